export * from './logger.js';
export * from './server.js';
export * from './operation-route.js';
export * from './client.js';
export * from './main.js';
export * from './reason.js';
export * from './admin-route.js';
