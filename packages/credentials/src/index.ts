export * from './scram.js';
export * from './secrets.js';
export * from './guessing.js';
export * from './operators.js';
