export * from './start.js';
export * from './manifest.js';
export * from './default-topology.js';
