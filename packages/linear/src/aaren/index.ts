/** L4 Attention as an RNN (Aaren): the public API of this paper folder. */
export { aarenScan, type AarenScanOptions, type AarenScanResult } from './scan.js';
export { AarenStream } from './stream.js';
export { aarenVariant, AAREN_OPTIONS } from './variant.js';
export { sequentialNaive, maskedSoftmaxNaive, type AarenDims } from './naive.js';
