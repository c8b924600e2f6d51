/**
 * The operator console's page at `/console` (services/console, built by Vite): only the page and its assets; what
 * it shows comes from `GET /admin/console`, behind the operators' credentials like every admin call.
 */
import type { FastifyInstance } from 'fastify';
import { loadWebApp, serveWebApp, webAppCsp, type Logger } from '@irsp/http';

export function consolePage(app: FastifyInstance, logger: Logger): void {
  const webApp = loadWebApp(import.meta.url, '@irsp/console');
  if (!webApp) logger.warn('the operator console is not built (run pnpm build): GET /console answers 503');
  serveWebApp(app, {
    webApp,
    paths: ['/console', '/console/'],
    assetsBase: '/console',
    csp: webAppCsp(),
    operation: 'console',
    notBuilt: 'The operator console is not built.',
  });
}
