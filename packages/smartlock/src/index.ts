export * from './rac.js';
export * from './frames.js';
export * from './guard.js';
export * from './gateway.js';
export * from './lock-device.js';
export * from './tpsp.js';
