export { evaluateWithCache, type CacheEvalOptions, type CacheEvalResult, type HeadPolicies } from './evaluate.js';
