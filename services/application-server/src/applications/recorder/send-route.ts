/**
 * `POST /send` (our addition): the default application pushes (Messages 12–13) through a message server of its AS
 * or exchanges (Messages 14–15) with another application server, on request of its operator. HTTP Basic with its
 * own appid and token; a JSON body `{ message, id, data, to?, as? }` where `id` is a local part, `to` the name of
 * the target application server for 14–15, and `as` its AS when that is another one (a configured peer, clause
 * 8.6). It answers JSON in every case, since its callers are operators' scripts, not servers of clause 8: what the
 * receiver answered, or why the request was refused (also in IRSP-Reason and the log line, as everywhere).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { REASON_HEADER, reasonText, type SendOutcome } from '@irsp/http';
import { RECORDER_SEND_PATH, recorderSendSchema } from '@irsp/protocol';
import type { ApplicationContext } from '../../application.js';
import { exchangeWith, push, type Addressee, type ExchangeTarget } from '../../send.js';

const MESSAGES = [12, 13, 14, 15];

function answer(outcome: SendOutcome) {
  return outcome.kind === 'status'
    ? { outcome: 'status', status: outcome.status, detail: outcome.detail }
    : outcome.kind === 'unexpected'
      ? { outcome: 'unexpected', status: outcome.httpStatus, detail: outcome.reason }
      : { outcome: 'unreachable', detail: outcome.reason };
}

function refuse(reply: FastifyReply, status: 400 | 401 | 413 | 500, why: string): FastifyReply {
  const reason = reasonText(why);
  return reply.code(status).header(REASON_HEADER, reason).send({ outcome: 'refused', status, reason });
}

/** Why a body that is JSON is not a request we can send, if it is not. */
function problemOf(json: unknown): string | undefined {
  const message = (json as { message?: unknown } | null)?.message;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'body is not a JSON object';
  if (!MESSAGES.includes(message as number)) return 'unknown message: must be 12, 13, 14 or 15';
  return undefined;
}

/** Why Messages 14–15 cannot go to `target`, if they cannot: the same lookup as exchangeWith's. */
function unknownTarget(ctx: ApplicationContext, target: ExchangeTarget): string | undefined {
  const { localServers, peers } = ctx.framework;
  if (target.as === undefined || target.as === ctx.domain)
    return localServers.some((s) => s.name === target.server)
      ? undefined
      : 'to is not another application server of this AS';
  return peers.some((p) => p.name === target.server && p.as === target.as)
    ? undefined
    : 'to and as name no configured peer';
}

export function sendRoute(app: FastifyInstance, ctx: ApplicationContext): void {
  app.post(
    RECORDER_SEND_PATH,
    {
      config: { operation: 'send' },
      // Before the body is read: a caller without the credentials learns nothing about its body.
      onRequest: async (request, reply) => {
        if (!ctx.isOperator(request.headers.authorization))
          return refuse(
            reply.header('www-authenticate', 'Basic realm="irsp"'),
            401,
            'operator credentials (HTTP Basic appid:token) missing or not accepted',
          );
      },
      // A body Fastify could not read (not JSON, too large) is answered here, in JSON, not by the service's XML.
      // A reply is thenable; the handler sends it and returns nothing (Fastify's errorHandler returns void).
      errorHandler: (error: { statusCode?: number }, request, reply) => {
        if (error.statusCode === 413) return void refuse(reply, 413, 'body over the size limit');
        if (error.statusCode !== undefined && error.statusCode < 500)
          return void refuse(reply, 400, 'body is not JSON');
        request.log.error({ err: error }, 'request failed');
        void refuse(reply, 500, 'server internal error');
      },
    },
    async (request, reply) => {
      const problem = problemOf(request.body);
      if (problem) return refuse(reply, 400, problem);
      const parsed = recorderSendSchema.safeParse(request.body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return refuse(reply, 400, `${issue?.path.join('.') || 'body'}: ${issue?.message}`);
      }
      const send = parsed.data;
      const to: Addressee =
        send.message === 12 || send.message === 14 ? { userid: send.id } : { deviceid: send.id };
      let outcome: SendOutcome | undefined;
      if (send.message === 12 || send.message === 13) outcome = await push(ctx.framework, to, send.data);
      else {
        const target = { server: send.to, as: send.as };
        const unknown = unknownTarget(ctx, target);
        if (unknown) return refuse(reply, 400, unknown);
        outcome = await exchangeWith(ctx.framework, target, to, send.data);
      }
      if (!outcome) return refuse(reply, 400, 'no such application server');
      const delivered = outcome.kind === 'status' && outcome.status === 200;
      return reply.code(delivered ? 200 : 502).send(answer(outcome));
    },
  );
}
