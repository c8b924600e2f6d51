/**
 * `POST /send` (our addition): the default application pushes (Messages 12–13) through a message server of its AS
 * or exchanges (Messages 14–15) with another application server, on request of its operator. HTTP Basic with its
 * own appid and token; a JSON body `{ message, id, data, to?, as? }` where `id` is a local part, `to` the name of
 * the target application server for 14–15, and `as` its AS when that is another one (a configured peer, clause
 * 8.6). The answer says what the receiver answered.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { sendStatus, type SendOutcome } from '@irsp/http';
import { MAX_DATA_LENGTH, domainSchema } from '@irsp/protocol';
import type { ApplicationContext } from '../../application.js';
import { exchangeWith, push, type Addressee } from '../../send.js';

const common = { id: z.string().min(1), data: z.string().min(1).max(MAX_DATA_LENGTH) };
const exchange = { ...common, to: z.string(), as: domainSchema.optional() };
const body = z.discriminatedUnion('message', [
  z.object({ message: z.literal(12), ...common }),
  z.object({ message: z.literal(13), ...common }),
  z.object({ message: z.literal(14), ...exchange }),
  z.object({ message: z.literal(15), ...exchange }),
]);

function answer(outcome: SendOutcome) {
  return outcome.kind === 'status'
    ? { outcome: 'status', status: outcome.status, detail: outcome.detail }
    : outcome.kind === 'unexpected'
      ? { outcome: 'unexpected', status: outcome.httpStatus, detail: outcome.reason }
      : { outcome: 'unreachable', detail: outcome.reason };
}

export function sendRoute(app: FastifyInstance, ctx: ApplicationContext): void {
  app.post('/send', { config: { operation: 'send' } }, async (request, reply) => {
    if (!ctx.isOperator(request.headers.authorization)) {
      return sendStatus(reply.header('www-authenticate', 'Basic realm="irsp"'), 401);
    }
    const parsed = body.safeParse(request.body);
    if (!parsed.success) return sendStatus(reply, 400);
    const send = parsed.data;
    const to: Addressee =
      send.message === 12 || send.message === 14 ? { userid: send.id } : { deviceid: send.id };
    const outcome: SendOutcome | undefined =
      send.message === 12 || send.message === 13
        ? await push(ctx.framework, to, send.data)
        : await exchangeWith(ctx.framework, { server: send.to, as: send.as }, to, send.data);
    if (!outcome) return sendStatus(reply, 400);
    const delivered = outcome.kind === 'status' && outcome.status === 200;
    return reply.code(delivered ? 200 : 502).send(answer(outcome));
  });
}
