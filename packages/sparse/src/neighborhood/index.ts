export { na1d, na2d, type NA1dOptions, type NA2dOptions } from './mask.js';
export { tileOccupancy, type TileOccupancy } from './simulator.js';
export { neighbours1d, neighbours1dCausal, denseFromNeighbours, naive2d } from './naive.js';
export { neighborhoodVariant, neighborhoodMask } from './variant.js';
