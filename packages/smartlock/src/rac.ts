/**
 * What a RAC needs (clause 7.6, 7.7, Table 2): the RAC↔RAS message formats only, with no Node built-ins, so that
 * the browser app (services/smartlock-rac) bundles them as they are. Imported as `@irsp/smartlock/rac`.
 */
export * from './status.js';
export * from './fields.js';
export * from './message.js';
export * from './push.js';
