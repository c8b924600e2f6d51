/**
 * The admin API of the account server and the message servers (our addition, docs/protocol.md "The admin API"):
 * JSON over HTTPS for operators, authenticated with HTTP Basic `name:password` of an operator of the topology.
 * Refusals are clause 8's `<error>` bodies with `IRSP-Reason`, as everywhere else. Each call is declared once here,
 * with its path, parameters and answer, so that servers, the `irsp` command and OpenAPI read the same thing.
 */
import { z } from 'zod';
import { parseAccountId, type AccountId } from './ids.js';

export interface AdminCall<
  P extends z.ZodObject = z.ZodObject,
  Q extends z.ZodObject = z.ZodObject,
  R extends z.ZodType = z.ZodType,
> {
  /** Stable name, used in logs, metrics and OpenAPI operation ids. */
  readonly name: string;
  readonly title: string;
  readonly method: 'GET' | 'DELETE';
  /** OpenAPI path template: `{name}` is a path parameter of `params`. */
  readonly path: string;
  readonly params: P;
  readonly query: Q;
  readonly response: R;
  /** Statuses besides 200, 400 and 401 (e.g. 404 when what is named does not exist). */
  readonly refusals?: readonly (404 | 500)[];
}

function adminCall<P extends z.ZodObject, Q extends z.ZodObject, R extends z.ZodType>(
  call: AdminCall<P, Q, R>,
): AdminCall<P, Q, R> {
  return Object.freeze(call);
}

/** A user ID or a device ID (`#` local part), whichever it is. */
export const anyAccountIdSchema = z
  .string()
  .max(1300)
  .transform((raw, ctx): AccountId => {
    const parsed = parseAccountId(raw, raw.startsWith('#') ? 'device' : 'user');
    if (parsed.ok) return parsed.id;
    ctx.addIssue({ code: 'custom', message: parsed.reason });
    return z.NEVER;
  });

const timestamp = z.string().describe('ISO 8601 date and time');
const noParams = z.object({});
const limit = z.coerce.number().int().min(1).max(1000).default(100);

export const adminHealth = adminCall({
  name: 'adminHealth',
  title: 'Health of this service',
  method: 'GET',
  path: '/admin/health',
  params: noParams,
  query: noParams,
  response: z.object({
    service: z.enum(['account-server', 'message-server']),
    /** The AS and message server id, for a message server. */
    domain: z.string().optional(),
    messageServer: z.string().optional(),
    ready: z.boolean(),
    uptimeSeconds: z.number().int().min(0),
  }),
});

const accountSummary = z.object({
  id: z.string(),
  kind: z.enum(['user', 'device']),
  state: z.enum(['pending', 'active', 'removing']),
  createdAt: timestamp,
});

export const adminAccounts = adminCall({
  name: 'adminAccounts',
  title: 'Accounts of every AS, oldest first; `search` keeps those whose ID contains it',
  method: 'GET',
  path: '/admin/accounts',
  params: noParams,
  query: z.object({ search: z.string().max(200).optional(), limit }),
  response: z.object({ accounts: z.array(accountSummary) }),
});

export const adminAccount = adminCall({
  name: 'adminAccount',
  title: 'One account as the account server knows it',
  method: 'GET',
  path: '/admin/accounts/{id}',
  params: z.object({ id: anyAccountIdSchema }),
  query: noParams,
  refusals: [404],
  response: z.object({
    account: accountSummary.extend({
      domain: z.string(),
      type: z.string().nullable(),
      vendor: z.string().nullable(),
      model: z.string().nullable(),
      updatedAt: timestamp,
    }),
  }),
});

export const adminRemoveAccount = adminCall({
  name: 'adminRemoveAccount',
  title: 'Removes an account (Message 5 or 6 to its message server), without its password',
  method: 'DELETE',
  path: '/admin/accounts/{id}',
  params: z.object({ id: anyAccountIdSchema }),
  query: noParams,
  // 500: its message server did not confirm; the account stays `removing` and the reconciler finishes it.
  refusals: [404, 500],
  response: z.object({ removed: z.string() }),
});

export const adminAccountRelations = adminCall({
  name: 'adminAccountRelations',
  title: "One account's relationships, devices and sessions in its AS",
  method: 'GET',
  path: '/admin/accounts/{id}/relations',
  params: z.object({ id: anyAccountIdSchema }),
  query: noParams,
  refusals: [404],
  response: z.object({
    id: z.string(),
    relationships: z.array(
      z.object({
        contact: z.string(),
        subscription: z.enum(['none', 'to', 'from', 'both']),
        ask: z.boolean(),
      }),
    ),
    /** A user's devices (clause 7.3: the user who bound them). */
    devices: z.array(z.object({ id: z.string(), since: timestamp })),
    /** A device's owner and the users it granted access to. */
    owner: z.string().nullable(),
    accessRights: z.array(z.string()),
    sessions: z.array(z.object({ resource: z.string(), messageServer: z.string(), since: timestamp })),
  }),
});

export const adminSessions = adminCall({
  name: 'adminSessions',
  title: 'Online sessions held by this message server',
  method: 'GET',
  path: '/admin/sessions',
  params: noParams,
  query: noParams,
  response: z.object({
    sessions: z.array(z.object({ jid: z.string(), since: timestamp, remoteAddress: z.string().nullable() })),
  }),
});

export const adminKick = adminCall({
  name: 'adminKick',
  title: 'Ends one online session (stream error policy-violation)',
  method: 'DELETE',
  path: '/admin/sessions/{jid}',
  params: z.object({ jid: z.string().min(3).max(3100) }),
  query: noParams,
  refusals: [404],
  response: z.object({ kicked: z.string() }),
});

/** The outbox's `target` for an application server (the account server's is `account-server`). */
export const applicationServerTarget = (name: string) => `application-server:${name}`;
/** Whether an outbox target is an application server's (rather than the account server's). */
export const isApplicationServerTarget = (target: string) => target.startsWith(applicationServerTarget(''));

export const adminOutbox = adminCall({
  name: 'adminOutbox',
  title: 'What waits to be delivered, per receiver (application servers, the account server)',
  method: 'GET',
  path: '/admin/outbox',
  params: noParams,
  query: noParams,
  response: z.object({
    outbox: z.array(
      z.object({
        target: z.string(),
        count: z.number().int(),
        oldestAgeSeconds: z.number().int(),
        lastError: z.string().nullable(),
      }),
    ),
    deadLetters: z.number().int(),
  }),
});

export const adminFailedLogins = adminCall({
  name: 'adminFailedLogins',
  title: 'Recent failed password and verification code checks, newest first (decision 0010)',
  method: 'GET',
  path: '/admin/failed-logins',
  params: noParams,
  query: z.object({ limit }),
  response: z.object({
    failures: z.array(z.object({ scope: z.string(), target: z.string(), source: z.string(), at: timestamp })),
  }),
});

export const adminS2s = adminCall({
  name: 'adminS2s',
  title: 'XMPP server-to-server streams of this message server now authenticated (clause 8.5)',
  method: 'GET',
  path: '/admin/s2s',
  params: noParams,
  query: noParams,
  response: z.object({
    links: z.array(
      z.object({
        /** Our domain and the peer's. */
        local: z.string(),
        peer: z.string(),
        direction: z.enum(['incoming', 'outgoing']),
        method: z.enum(['sasl-external', 'dialback']),
        since: timestamp,
      }),
    ),
  }),
});

const session = adminSessions.response.shape.sessions.element;
const s2sLink = adminS2s.response.shape.links.element;
const backlog = adminOutbox.response.shape.outbox.element;
const failure = adminFailedLogins.response.shape.failures.element;
/** Whether a service answers `/readyz` with 200 now; `detail` says why not. */
const health = { ready: z.boolean(), detail: z.string().nullable() };

/** What the operator console plots: one sampled metric of one service (decision 0023). */
export const consoleSeriesSchema = z.object({
  metric: z.enum(['sessions', 'outbox', 'memory', 'requests', 'eventLoopLag']),
  /** `account-server`, `<domain>/<message server id>` or `<domain>/<application server name>`; an AS's domain for `outbox`. */
  service: z.string(),
  /** The outbox's receiver, for `outbox`. */
  label: z.string().nullable(),
  /** One value per sample time (`history.at`); null where the service did not answer. */
  values: z.array(z.number().nullable()),
});

export const adminConsole = adminCall({
  name: 'adminConsole',
  title:
    'Everything the operator console shows: the topology with the health of each service, sessions, outbox backlogs, s2s links, recent failed logins, and metrics sampled over the last hour',
  method: 'GET',
  path: '/admin/console',
  params: noParams,
  query: noParams,
  response: z.object({
    at: timestamp,
    accountServer: z.object({ url: z.string(), ...health }),
    autonomousSystems: z.array(
      z.object({
        domain: z.string(),
        messageServers: z.array(
          z.object({
            id: z.string(),
            url: z.string(),
            ...health,
            /** Null when its admin API did not answer. */
            sessions: z.array(session).nullable(),
            s2s: z.array(s2sLink).nullable(),
          }),
        ),
        applicationServers: z.array(
          z.object({ name: z.string(), url: z.string(), jid: z.string(), ...health }),
        ),
        /** The AS's outbox, read from the first message server that answers; null when none does. */
        outbox: z.array(backlog).nullable(),
        deadLetters: z.number().int().nullable(),
      }),
    ),
    /** The account server's and every message server's, newest first. */
    failedLogins: z.array(failure.extend({ server: z.string() })),
    history: z.object({
      intervalSeconds: z.number().int().min(1),
      at: z.array(timestamp),
      series: z.array(consoleSeriesSchema),
    }),
  }),
});

export const ACCOUNT_SERVER_ADMIN_CALLS = [
  adminHealth,
  adminAccounts,
  adminAccount,
  adminRemoveAccount,
  adminFailedLogins,
  adminConsole,
] as const;
export const MESSAGE_SERVER_ADMIN_CALLS = [
  adminHealth,
  adminAccountRelations,
  adminSessions,
  adminKick,
  adminOutbox,
  adminS2s,
  adminFailedLogins,
] as const;

export type AdminParamsIn<C extends AdminCall> = z.input<C['params']>;
export type AdminQueryIn<C extends AdminCall> = z.input<C['query']>;
export type AdminAnswer<C extends AdminCall> = z.output<C['response']>;

/** The URL of an admin call on a server's base URL, path parameters percent-encoded. */
export function adminUrl<C extends AdminCall>(
  call: C,
  base: string,
  params: Record<string, string> = {},
  query: Record<string, string | number | undefined> = {},
): string {
  const path = call.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${call.name} needs ${name}`);
    return encodeURIComponent(value);
  });
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(name, String(value));
  }
  return url.toString();
}

/** The route pattern of a call for a router that writes path parameters `:name`. */
export function adminRoutePattern(call: AdminCall): string {
  return call.path.replace(/\{(\w+)\}/g, ':$1');
}
