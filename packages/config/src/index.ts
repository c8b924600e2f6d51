export * from './topology.js';
export * from './load.js';
export * from './select.js';
export * from './tls.js';
export * from './server-tls.js';
export * from './guessing.js';
export * from './osap.js';
