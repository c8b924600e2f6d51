export * from './scram.js';
export * from './secrets.js';
