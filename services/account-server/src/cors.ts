/**
 * CORS for the client account API (Fetch standard, "CORS protocol"): a browser page served from a listed origin —
 * the RAC of a smart-lock application server — may register and manage accounts. Our forms are "simple" requests
 * that browsers send without asking first; a preflight (OPTIONS) is answered all the same for clients that ask.
 * Any other origin gets no `Access-Control-Allow-Origin`, so the browser keeps the answer from the page.
 */
import { sendStatus } from '@irsp/http';
import type { FastifyInstance } from 'fastify';

const PREFLIGHT_MAX_AGE_S = 600;

export function allowOrigins(app: FastifyInstance, origins: readonly string[]): void {
  if (origins.length === 0) return;
  const allowed = new Set(origins);
  app.addHook('onRequest', (request, reply, done) => {
    const origin = request.headers.origin;
    if (origin !== undefined && allowed.has(origin))
      reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
    done();
  });
  app.options('/*', (request, reply) => {
    const origin = request.headers.origin;
    const method = request.headers['access-control-request-method'];
    const headers = request.headers['access-control-request-headers'];
    if (
      origin === undefined ||
      !allowed.has(origin) ||
      method !== 'POST' ||
      (headers !== undefined && headers.toLowerCase().trim() !== 'content-type')
    )
      return sendStatus(
        reply.removeHeader('access-control-allow-origin'),
        403,
        'origin, method or headers not allowed',
      );
    return reply
      .code(204)
      .header('access-control-allow-methods', 'POST')
      .header('access-control-allow-headers', 'content-type')
      .header('access-control-max-age', String(PREFLIGHT_MAX_AGE_S))
      .send();
  });
}
