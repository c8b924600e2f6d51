/**
 * What a browser page needs: the client account API's operations and the form encoding (the RAC's sign-up), and the
 * admin API's calls (the operator console), without the Node built-ins of the rest of the package. Imported as
 * `@irsp/protocol/browser`.
 */
export * from './client-api.js';
export { encodeForm } from './form.js';
export {
  adminConsole,
  adminUrl,
  applicationServerTarget,
  consoleSeriesSchema,
  type AdminAnswer,
} from './admin.js';
