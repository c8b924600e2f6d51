export * from './errors.js';
export * from './fixed-header.js';
export * from './version.js';
export * from './general-payload.js';
export * from './frame.js';
export * from './negotiation.js';
export * from './keys.js';
export * from './seal.js';
