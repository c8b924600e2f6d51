/**
 * `GET /received?after=<id>`: what the default application received, for operators and tests. Authenticated with
 * HTTP Basic `appid:token` of this application server (kept out of URLs and logs).
 */
import type { FastifyInstance } from 'fastify';
import { sendStatus } from '@irsp/http';
import { RECORDER_RECEIVED_PATH, recorderReceivedQuerySchema } from '@irsp/protocol';
import type { ApplicationContext } from '../../application.js';
import { listReceived } from './received.js';

export function receivedRoute(app: FastifyInstance, ctx: ApplicationContext): void {
  app.get(RECORDER_RECEIVED_PATH, { config: { operation: 'received' } }, async (request, reply) => {
    if (!ctx.isOperator(request.headers.authorization)) {
      return sendStatus(reply.header('www-authenticate', 'Basic realm="irsp"'), 401);
    }
    const parsed = recorderReceivedQuerySchema.safeParse(request.query);
    if (!parsed.success) return sendStatus(reply, 400);
    return { received: await listReceived(ctx.db, parsed.data.after, parsed.data.limit) };
  });
}
