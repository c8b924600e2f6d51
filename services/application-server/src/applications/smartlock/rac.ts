/**
 * The RAC (clause 6.3) served at the root of the smart-lock application server: the built web app of
 * services/smartlock-rac (index.html and its hashed assets, read once at start) and `/config.json`, which tells
 * the page where the account server and the XMPP WebSocket are and which JID the RAS has. A strict CSP lets the
 * page run only its own scripts and talk only to those servers.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ApplicationContext } from '../../application.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

interface Asset {
  body: Buffer;
  type: string;
}

/** The built RAC (`pnpm build` runs `vite build` in services/smartlock-rac), or undefined when it is not built. */
function loadRac(): { index: Buffer; assets: Map<string, Asset> } | undefined {
  let dist: string;
  try {
    dist = join(dirname(createRequire(import.meta.url).resolve('@irsp/smartlock-rac/package.json')), 'dist');
    const index = readFileSync(join(dist, 'index.html'));
    const assets = new Map<string, Asset>();
    for (const name of readdirSync(join(dist, 'assets'))) {
      const type = CONTENT_TYPES[extname(name)];
      if (type) assets.set(name, { body: readFileSync(join(dist, 'assets', name)), type });
    }
    return { index, assets };
  } catch {
    return undefined;
  }
}

const origin = (url: string) => new URL(url).origin;
/** `wss://host:port` of a WebSocket URL (CSP source expressions name scheme, host and port). */
const socketSource = (url: string) => `wss://${new URL(url).host}`;

export function racRoutes(app: FastifyInstance, ctx: ApplicationContext): void {
  const rac = loadRac();
  const { accountServer, xmppWebsocket } = ctx.clientEndpoints;
  if (!rac) ctx.logger.warn('the RAC is not built (run pnpm build): GET / answers 503');
  if (!accountServer || !xmppWebsocket)
    ctx.logger.warn('no account server or XMPP WebSocket known: the RAC cannot log in');
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    [
      'connect-src',
      "'self'",
      accountServer && origin(accountServer),
      xmppWebsocket && socketSource(xmppWebsocket),
    ]
      .filter(Boolean)
      .join(' '),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const secure = (reply: FastifyReply) =>
    reply
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer');

  app.get('/', { config: { operation: 'racPage' } }, async (_request, reply) => {
    if (!rac) return secure(reply).code(503).type('text/plain; charset=utf-8').send('The RAC is not built.');
    return secure(reply).header('cache-control', 'no-cache').type(CONTENT_TYPES['.html']!).send(rac.index);
  });
  app.get<{ Params: { name: string } }>(
    '/assets/:name',
    { config: { operation: 'racAsset' } },
    async (request, reply) => {
      const asset = rac?.assets.get(request.params.name);
      if (!asset) return secure(reply).code(404).type('text/plain; charset=utf-8').send('Not found');
      // Vite names assets by their content's hash: a name never changes meaning.
      return secure(reply)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .type(asset.type)
        .send(asset.body);
    },
  );
  app.get('/config.json', { config: { operation: 'racConfig' } }, async (_request, reply) => {
    if (!accountServer || !xmppWebsocket) return secure(reply).code(503).send({ error: 'not configured' });
    return secure(reply)
      .header('cache-control', 'no-cache')
      .send({ domain: ctx.domain, accountServer, websocket: xmppWebsocket, ras: ctx.server.jid });
  });
}
