/**
 * `POST /send` (our addition): the default application pushes (Messages 12–13) through a message server of its AS
 * or exchanges (Messages 14–15) with another application server of its AS, on request of its operator. HTTP Basic
 * with its own appid and token; a JSON body `{ message, id, data, to? }` where `id` is a local part and `to` the
 * name of the target application server for 14–15. The answer says what the receiver answered.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { sendStatus, type OperationClient, type SendOutcome } from '@irsp/http';
import { MAX_DATA_LENGTH, message12, message13, message14, message15 } from '@irsp/protocol';
import type { ApplicationServerContext } from '../context.js';
import { isOwnCredential } from './basic-auth.js';

const body = z.discriminatedUnion('message', [
  z.object({ message: z.literal(12), id: z.string().min(1), data: z.string().min(1).max(MAX_DATA_LENGTH) }),
  z.object({ message: z.literal(13), id: z.string().min(1), data: z.string().min(1).max(MAX_DATA_LENGTH) }),
  z.object({
    message: z.literal(14),
    id: z.string().min(1),
    data: z.string().min(1).max(MAX_DATA_LENGTH),
    to: z.string(),
  }),
  z.object({
    message: z.literal(15),
    id: z.string().min(1),
    data: z.string().min(1).max(MAX_DATA_LENGTH),
    to: z.string(),
  }),
]);

export interface SendTargets {
  /** The message servers of the AS, in order of preference (Messages 12–13). */
  messageServers: readonly { url: string; pushUri: string }[];
  /** The other application servers of the AS (Messages 14–15). */
  peers: readonly { name: string; url: string; exchangeUri: string }[];
}

function answer(outcome: SendOutcome) {
  return outcome.kind === 'status'
    ? { outcome: 'status', status: outcome.status, detail: outcome.detail }
    : outcome.kind === 'unexpected'
      ? { outcome: 'unexpected', status: outcome.httpStatus, detail: outcome.reason }
      : { outcome: 'unreachable', detail: outcome.reason };
}

export function sendRoute(
  app: FastifyInstance,
  ctx: ApplicationServerContext,
  client: OperationClient,
  targets: SendTargets,
  ownDigest: Buffer,
): void {
  app.post('/send', { config: { operation: 'send' } }, async (request, reply) => {
    if (!isOwnCredential(ctx, request.headers.authorization, ownDigest)) {
      return sendStatus(reply.header('www-authenticate', 'Basic realm="irsp"'), 401);
    }
    const parsed = body.safeParse(request.body);
    if (!parsed.success) return sendStatus(reply, 400);
    const request_ = parsed.data;
    const credentials = ctx.config.credentials;
    let outcome: SendOutcome = { kind: 'unreachable', reason: 'no message server configured' };
    if (request_.message === 12 || request_.message === 13) {
      for (const ms of targets.messageServers) {
        outcome =
          request_.message === 12
            ? await client.send(
                message12,
                ms.url,
                { userid: request_.id, data: request_.data, ...credentials },
                { serviceUri: ms.pushUri },
              )
            : await client.send(
                message13,
                ms.url,
                { deviceid: request_.id, data: request_.data, ...credentials },
                { serviceUri: ms.pushUri },
              );
        if (outcome.kind !== 'unreachable') break;
      }
    } else {
      const peer = targets.peers.find((p) => p.name === request_.to);
      if (!peer) return sendStatus(reply, 400);
      outcome =
        request_.message === 14
          ? await client.send(
              message14,
              peer.url,
              { userid: request_.id, data: request_.data, ...credentials },
              { serviceUri: peer.exchangeUri },
            )
          : await client.send(
              message15,
              peer.url,
              { deviceid: request_.id, data: request_.data, ...credentials },
              { serviceUri: peer.exchangeUri },
            );
    }
    const delivered = outcome.kind === 'status' && outcome.status === 200;
    return reply.code(delivered ? 200 : 502).send(answer(outcome));
  });
}
