export { kmeansRouting, type RoutingOptions, type Routing } from './kmeans.js';
export { routingVariant, routingMask } from './variant.js';
export { naiveRoutingKeep, naiveRoutingPairs } from './naive.js';
