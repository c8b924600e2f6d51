/**
 * The RAC (clause 6.3) served at the root of the smart-lock application server: the built web app of
 * services/smartlock-rac (index.html and its hashed assets, read once at start) and `/config.json`, which tells
 * the page where the account server and the XMPP WebSocket are and which JID the RAS has. A strict CSP lets the
 * page run only its own scripts and talk only to those servers.
 */
import type { FastifyInstance } from 'fastify';
import { loadWebApp, secureWebReply, serveWebApp, webAppCsp } from '@irsp/http';
import type { ApplicationContext } from '../../application.js';

const origin = (url: string) => new URL(url).origin;
/** `wss://host:port` of a WebSocket URL (CSP source expressions name scheme, host and port). */
const socketSource = (url: string) => `wss://${new URL(url).host}`;

export function racRoutes(app: FastifyInstance, ctx: ApplicationContext): void {
  const rac = loadWebApp(import.meta.url, '@irsp/smartlock-rac');
  const { accountServer, xmppWebsocket } = ctx.clientEndpoints;
  if (!rac) ctx.logger.warn('the RAC is not built (run pnpm build): GET / answers 503');
  if (!accountServer || !xmppWebsocket)
    ctx.logger.warn('no account server or XMPP WebSocket known: the RAC cannot log in');
  const csp = webAppCsp(
    [accountServer && origin(accountServer), xmppWebsocket && socketSource(xmppWebsocket)].filter(
      (source): source is string => Boolean(source),
    ),
  );
  serveWebApp(app, {
    webApp: rac,
    paths: ['/'],
    assetsBase: '',
    csp,
    operation: 'rac',
    notBuilt: 'The RAC is not built.',
  });
  app.get('/config.json', { config: { operation: 'racConfig' } }, async (_request, reply) => {
    if (!accountServer || !xmppWebsocket)
      return secureWebReply(reply, csp).code(503).send({ error: 'not configured' });
    return secureWebReply(reply, csp)
      .header('cache-control', 'no-cache')
      .send({ domain: ctx.domain, accountServer, websocket: xmppWebsocket, ras: ctx.server.jid });
  });
}
