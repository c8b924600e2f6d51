export * from './build.js';
export * from './context.js';
export * from './from-topology.js';
export { resetVerifyCode } from './verify-code.js';
