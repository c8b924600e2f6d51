/**
 * The bus between the message servers of one AS (docs/decisions/0024-cluster-on-nats.md), on NATS core:
 * - `<p>.sessions`: sessions bound and unbound on each server, so that every server knows who is online where;
 * - `<p>.started`: a server (re)started: what the others knew of its sessions is gone (a restart after a crash can
 *   come before its lease runs out);
 * - `<p>.to.<server>`: stanzas for sessions held by that server (or for those of an account there that asked for
 *   carbons or blocklist pushes), presence probes, and messages relayed as requests (the holder answers whether it
 *   took them);
 * - `<p>.settled.<server>`: a relayed message written live is safe with its recipient, or not (the sender's server
 *   keeps a copy until then, and stores it offline when the answer is no or the holder died);
 * - `<p>.changed`: cache entries every server drops (relationships, credentials, removed accounts, blocklists);
 * - `<p>.resume.<server>`: a client asked another server to resume a session this one issued the id of (XEP-0198):
 *   it ends here at once (request/reply: answered once what it had not acknowledged is stored).
 * Every payload is checked with zod: the bus is inside the AS, but a malformed frame is dropped, not trusted.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@irsp/http';
import { connect, type Msg, type NatsConnection, type Subscription } from 'nats';
import { z } from 'zod';
import { Requests, Unanswered } from './cluster-requests.js';

/** How long a relayed message waits for its holder's answer before it is stored offline instead (ms). */
const RELAY_TIMEOUT_MS = 5_000;
/** How long a `<resume/>` on another server waits for the session's server before answering `<failed/>` (ms). */
const RESUME_TIMEOUT_MS = 2_000;

const name = z.string().min(1).max(1024);
const sessionEvent = z.object({
  op: z.enum(['bound', 'unbound']),
  server: name,
  local: name,
  resource: name,
});
const relayed = z.discriminatedUnion('kind', [
  /** A stanza for one session here (`resource`), or for every session of `local` here. */
  z.object({ kind: z.literal('stanza'), local: name, resource: name.optional(), stanza: z.string() }),
  /** A stanza for the sessions of `local` here that asked for `interest` (carbons, blocklist pushes; decision 0025). */
  z.object({
    kind: z.literal('interested'),
    local: name,
    interest: z.enum(['carbons', 'blocklist']),
    except: name.optional(),
    stanza: z.string(),
  }),
  /** Current presence of `of`'s sessions here, to the full JID `to`. */
  z.object({ kind: z.literal('probe'), of: name, to: name }),
  /** A message for one resource, or every resource here; answered (request/reply). */
  z.object({
    kind: z.literal('message'),
    id: name,
    from: name,
    local: name,
    resource: name.optional(),
    stanza: z.string(),
  }),
]);
export type Relayed = z.infer<typeof relayed>;
const messageAnswer = z.object({
  /** false: no session of the account here (any more). */
  taken: z.boolean(),
  /** Written live: a `settled` follows. */
  live: z.boolean().default(false),
  /** What the sender gets in the message's place (storage full). */
  refusal: z.string().optional(),
});
export type MessageAnswer = z.infer<typeof messageAnswer>;
const settled = z.object({ id: name, ok: z.boolean() });
const resume = z.object({ local: name, previd: z.string().min(1).max(256) });
const resumeAnswer = z.object({ ended: z.boolean() });
const started = z.object({ server: name });
const changed = z.object({
  roster: z.array(name).max(10_000).default([]),
  credentials: z.array(name).max(10_000).default([]),
  removed: z.array(name).max(10_000).default([]),
  blocklist: z.array(name).max(10_000).default([]),
});
export type Changed = z.infer<typeof changed>;

/** What the message server does with what arrives on the bus. */
export interface ClusterHandlers {
  sessionEvent(event: z.infer<typeof sessionEvent>): void;
  /** Another server (re)started with no session. */
  started(server: string): void;
  /** A relayed stanza or probe; for a message, resolves with the answer to send back. */
  relayed(item: Relayed): Promise<MessageAnswer | undefined>;
  settled(id: string, ok: boolean): void;
  changed(change: Changed): void;
  /** After a reconnection: changes may have been missed (caches dropped, registry read again). */
  reconnected(): void;
  /** Ends the session of `local` resumable with `previd` here, if any; resolves once its hand-back is stored. */
  resume(local: string, previd: string): Promise<boolean>;
}

export class ClusterBus {
  private readonly subscriptions: Subscription[] = [];
  private readonly requests: Requests;
  private handlers: ClusterHandlers | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    readonly serverId: string,
    private readonly logger: Logger,
  ) {
    this.requests = new Requests(nc);
  }

  /** Connects (fails when no NATS server answers: a clustered server does not start alone). */
  static async connect(
    servers: string[],
    domain: string,
    serverId: string,
    logger: Logger,
  ): Promise<ClusterBus> {
    const nc = await connect({
      servers,
      name: `irsp-message-server-${domain}-${serverId}`,
      maxReconnectAttempts: -1,
      // Otherwise every subscription error and timeout carries a second stack, built in advance (cluster-requests.ts).
      noAsyncTraces: true,
    });
    return new ClusterBus(nc, `irsp.${domain.replaceAll('.', '_')}`, serverId, logger);
  }

  /** Starts listening; resolves once the subscriptions are registered with the NATS server. */
  async start(handlers: ClusterHandlers): Promise<void> {
    this.handlers = handlers;
    this.listen(`${this.prefix}.sessions`, sessionEvent, (event) => handlers.sessionEvent(event));
    this.listen(`${this.prefix}.to.${this.serverId}`, relayed, (item, msg) => {
      handlers.relayed(item).then(
        (answer) => {
          if (answer && msg.reply) msg.respond(encode(answer));
        },
        (error: unknown) => this.logger.error({ err: error }, 'relayed stanza not handled'),
      );
    });
    this.listen(`${this.prefix}.settled.${this.serverId}`, settled, (s) => handlers.settled(s.id, s.ok));
    this.listen(`${this.prefix}.changed`, changed, (c) => handlers.changed(c));
    this.listen(`${this.prefix}.resume.${this.serverId}`, resume, (r, msg) => {
      handlers.resume(r.local, r.previd).then(
        (ended) => msg.reply && msg.respond(encode({ ended })),
        (error: unknown) => this.logger.error({ err: error }, 'resumption elsewhere not handled'),
      );
    });
    this.listen(`${this.prefix}.started`, started, (s) => {
      if (s.server !== this.serverId) handlers.started(s.server);
    });
    void this.watch();
    this.publish(`${this.prefix}.started`, { server: this.serverId });
    await this.nc.flush();
  }

  private listen<T>(subject: string, schema: z.ZodType<T>, handle: (item: T, msg: Msg) => void): void {
    this.subscriptions.push(
      this.nc.subscribe(subject, {
        callback: (error, msg) => {
          if (error) return this.logger.error({ err: error, subject }, 'cluster subscription failed');
          const parsed = schema.safeParse(decode(msg.data));
          if (!parsed.success) return this.logger.warn({ subject }, 'malformed cluster frame dropped');
          handle(parsed.data, msg);
        },
      }),
    );
  }

  private async watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') this.logger.warn('cluster bus (NATS) disconnected');
      if (status.type === 'reconnect') {
        this.logger.warn('cluster bus (NATS) reconnected: caches dropped, registry read again');
        this.handlers?.reconnected();
      }
    }
  }

  sessionChanged(op: 'bound' | 'unbound', local: string, resource: string): void {
    this.publish(`${this.prefix}.sessions`, { op, server: this.serverId, local, resource });
  }

  /** A stanza or a probe for sessions held by `server` (no answer). */
  send(server: string, item: Exclude<Relayed, { kind: 'message' }>): void {
    this.publish(`${this.prefix}.to.${server}`, item);
  }

  /**
   * A message for sessions held by `server`: its answer; `{ taken: false }` when nobody answers (the server is gone,
   * NATS is out of reach) or the answer is malformed.
   */
  async message(server: string, item: Omit<Extract<Relayed, { kind: 'message' }>, 'kind' | 'from' | 'id'>) {
    const id = randomUUID();
    const request = { kind: 'message' as const, id, from: this.serverId, ...item };
    try {
      const reply = await this.requests.request(
        `${this.prefix}.to.${server}`,
        encode(request),
        RELAY_TIMEOUT_MS,
      );
      const answer = messageAnswer.safeParse(decode(reply.data));
      return { id, answer: answer.success ? answer.data : { taken: false, live: false } };
    } catch (error) {
      const quiet = error instanceof Unanswered && error.reason === 'no responders';
      if (!quiet) this.logger.warn({ err: error, server }, 'relayed message not answered');
      return { id, answer: { taken: false, live: false } };
    }
  }

  /** Asks `server` to end the session of `local` resumable with `previd`: whether it did (false: no answer). */
  async resume(server: string, local: string, previd: string): Promise<boolean> {
    // The client's id as it sent it: one no server could have issued is not asked about.
    if (!resume.safeParse({ local, previd }).success) return false;
    try {
      const reply = await this.requests.request(
        `${this.prefix}.resume.${server}`,
        encode({ local, previd }),
        RESUME_TIMEOUT_MS,
      );
      const answer = resumeAnswer.safeParse(decode(reply.data));
      return answer.success && answer.data.ended;
    } catch (error) {
      const quiet = error instanceof Unanswered && error.reason === 'no responders';
      if (!quiet) this.logger.warn({ err: error, server }, 'resumption elsewhere not answered');
      return false;
    }
  }

  settle(server: string, id: string, ok: boolean): void {
    this.publish(`${this.prefix}.settled.${server}`, { id, ok });
  }

  changed(change: Partial<Changed>): void {
    this.publish(`${this.prefix}.changed`, change);
  }

  private publish(subject: string, payload: unknown): void {
    try {
      this.nc.publish(subject, encode(payload));
    } catch (error) {
      // Closed connection (only at stop): nothing left to tell.
      this.logger.warn({ err: error, subject }, 'cluster frame not published');
    }
  }

  async close(): Promise<void> {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    this.requests.close();
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}

const encode = (payload: unknown): Uint8Array => Buffer.from(JSON.stringify(payload));

function decode(data: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return undefined;
  }
}
