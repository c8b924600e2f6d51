export * from './build.js';
export * from './context.js';
export * from './from-topology.js';
export { reconcileOnce } from './reconciler.js';
