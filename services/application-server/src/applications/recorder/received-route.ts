/**
 * `GET /received?after=<id>`: what the default application received, for operators and tests. Authenticated with
 * HTTP Basic `appid:token` of this application server (kept out of URLs and logs).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { sendStatus } from '@irsp/http';
import type { ApplicationContext } from '../../application.js';
import { listReceived } from './received.js';

const query = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
});

export function receivedRoute(app: FastifyInstance, ctx: ApplicationContext): void {
  app.get('/received', { config: { operation: 'received' } }, async (request, reply) => {
    if (!ctx.isOperator(request.headers.authorization)) {
      return sendStatus(reply.header('www-authenticate', 'Basic realm="irsp"'), 401);
    }
    const parsed = query.safeParse(request.query);
    if (!parsed.success) return sendStatus(reply, 400);
    return { received: await listReceived(ctx.db, parsed.data.after, parsed.data.limit) };
  });
}
