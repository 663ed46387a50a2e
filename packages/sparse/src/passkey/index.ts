export { passkeyTask, BOS, KEY, QUERY, type PasskeyTask, type PasskeyTaskOptions, type PasskeyBatch } from './task.js';
export { scorePasskey, type LogitsFn, type PasskeyScore } from './eval.js';
