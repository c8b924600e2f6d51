/**
 * What a browser page needs to call the client account API (the RAC's sign-up): the operations and the form
 * encoding, without the Node built-ins of the rest of the package. Imported as `@irsp/protocol/browser`.
 */
export * from './client-api.js';
export { encodeForm } from './form.js';
