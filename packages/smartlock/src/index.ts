export * from './status.js';
export * from './fields.js';
export * from './message.js';
export * from './push.js';
export * from './frames.js';
export * from './guard.js';
export * from './gateway.js';
export * from './lock-device.js';
