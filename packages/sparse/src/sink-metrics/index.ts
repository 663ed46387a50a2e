/** H7 "When Attention Sink Emerges": the sink metric, per-head sink mass and the sink token's value norm. */
export { sinkStats, valueNorms, sinkReport, measureSinks, type SinkMetricOptions, type SinkReport, type HeadSink } from './metrics.js';
export { naiveSinkStats, naiveValueNorms, type NaiveSinkOptions } from './naive.js';
export { bigramTransitions, bigramBackcopy, type BigramBackcopyOptions } from './bigram-backcopy.js';
