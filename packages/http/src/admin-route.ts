/**
 * Serving the admin API's calls (@irsp/protocol admin.ts): operator first, then parameters, then the handler. A
 * caller without operator credentials learns nothing else: 401 with clause 8's body, `IRSP-Reason` and
 * `WWW-Authenticate`, whatever it asked (429 with `Retry-After` once the guessing throttle holds it).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { adminRoutePattern, type AdminAnswer, type AdminCall } from '@irsp/protocol';
import { sendStatus } from './server.js';

/**
 * Whether the request names an operator (HTTP Basic, checked against hashes): `retryAfterMs` when the guessing
 * throttle refuses to check.
 */
export type OperatorCheck = (
  request: FastifyRequest,
) => Promise<{ ok: true } | { ok: false; retryAfterMs?: number }>;

/** What a handler answers: the call's JSON, or a refusal (404: what it names does not exist) with why. */
export type AdminResult<C extends AdminCall> = AdminAnswer<C> | AdminRefusal;
export interface AdminRefusal {
  status: 404 | 500;
  reason: string;
}

export interface AdminRoute {
  call: AdminCall;
  register(app: FastifyInstance, isOperator: OperatorCheck): void;
}

export function adminRoute<C extends AdminCall>(
  call: C,
  handle: (
    input: { params: z.output<C['params']>; query: z.output<C['query']> },
    request: FastifyRequest,
  ) => Promise<AdminResult<C>>,
): AdminRoute {
  return {
    call,
    register(app, isOperator) {
      app.route({
        method: call.method,
        url: adminRoutePattern(call),
        config: { operation: call.name },
        handler: async (request, reply) => {
          const operator = await isOperator(request);
          if (!operator.ok && operator.retryAfterMs !== undefined)
            return sendStatus(
              reply.header('retry-after', String(Math.ceil(operator.retryAfterMs / 1000))),
              429,
              'too many failed operator logins',
            );
          if (!operator.ok)
            return sendStatus(
              reply.header('www-authenticate', 'Basic realm="irsp"'),
              401,
              'operator credentials (HTTP Basic name:password) missing or not accepted',
            );
          const params = call.params.safeParse(request.params);
          const query = call.query.safeParse(request.query);
          const failed = !params.success ? params.error : !query.success ? query.error : undefined;
          if (failed) {
            const issue = failed.issues[0];
            return sendStatus(reply, 400, `${issue?.path.join('.') || 'parameters'}: ${issue?.message}`);
          }
          const result = await handle(
            {
              params: params.data as z.output<C['params']>,
              query: query.data as z.output<C['query']>,
            },
            request,
          );
          if (isRefusal(result)) return sendStatus(reply, result.status, result.reason);
          return reply.code(200).send(result);
        },
      });
    },
  };
}

function isRefusal(result: unknown): result is AdminRefusal {
  const status = typeof result === 'object' && result !== null && (result as { status?: unknown }).status;
  return status === 404 || status === 500;
}

/** Registers the admin calls of a service behind its operators. */
export function serveAdmin(
  app: FastifyInstance,
  isOperator: OperatorCheck,
  routes: readonly AdminRoute[],
): void {
  for (const route of routes) route.register(app, isOperator);
}
