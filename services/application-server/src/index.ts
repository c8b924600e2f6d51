export * from './build.js';
export * from './from-topology.js';
