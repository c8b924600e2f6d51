/**
 * The seam between the application server and the applications it runs (docs/decisions/0017-application-seam.md),
 * in the manner of Fastify plugins: an application has a name, may bring migrations (kept in a ledger of its own)
 * and routes, handles the Messages 8–11 and 14–15 its server receives, and sends 12–15 through its context. The
 * topology names the applications of each application server; the server knows nothing else of them.
 */
import type { ApplicationServerConfig } from '@irsp/config';
import type { Logger } from '@irsp/http';
import type { DeliveryMark, MessageDef } from '@irsp/protocol';
import type { Db, Queryable } from '@irsp/store';
import type { FastifyInstance } from 'fastify';
import type { ApplicationServerContext } from './context.js';
import type { Addressee, ExchangeTarget } from './send.js';

/** A message the application server received and answered 200 to once every application has handled it. */
export interface Received {
  /** Message 8–11 (from the message server) or 14–15 (from an application server of this AS or another). */
  message: MessageDef;
  /** Its parameters, without the caller's credentials (appid of a peer and `as` stay: they say who sent it). */
  params: Record<string, string>;
  /** The sender's delivery mark: a retry of an earlier delivery carries a higher attempt. */
  delivery: DeliveryMark | undefined;
}

/** What an application is given: its server, its database, and durable sending. */
export interface ApplicationContext {
  /** The AS the application server belongs to. */
  readonly domain: string;
  readonly server: Pick<ApplicationServerConfig, 'name' | 'jid' | 'url'>;
  /** Where the AS's users reach the IRSP, for the web apps an application serves (the RAC). */
  readonly clientEndpoints: ClientEndpoints;
  readonly db: Db;
  readonly logger: Logger;
  /**
   * Queues Message 12 or 13 to a user or device of the AS, in `tx` when given (it leaves only if that commits):
   * delivered through a message server of the AS in order per addressee, retried until accepted.
   */
  push(to: Addressee, data: string, tx?: Queryable): Promise<void>;
  /** Queues Message 14 or 15 to an application server of this AS, or of another (a configured peer), likewise. */
  exchange(target: ExchangeTarget, to: Addressee, data: string, tx?: Queryable): Promise<void>;
  /** Whether an `Authorization` header is HTTP Basic with this application server's own appid and token. */
  isOperator(authorization: string | undefined): boolean;
  /** The framework's clients and stores (signed HTTP, nonces, peers), for applications that talk to the outside. */
  readonly framework: ApplicationServerContext;
}

export interface ClientEndpoints {
  /** The account server's base URL (its client account API). */
  accountServer?: string;
  /** XMPP over WebSocket (RFC 7395) at a message server of the AS. */
  xmppWebsocket?: string;
}

export interface Application {
  readonly name: string;
  /** Its migrations (NNN_name.sql), applied at start in the ledger `<name>_migrations`. */
  readonly migrations?: URL;
  /** Registers its routes on the server (an application's own paths, under its name where it can). */
  routes?(app: FastifyInstance): void;
  /**
   * A message received, in the transaction the sender's answer waits for: a throw rolls back every application's
   * work and answers 500, so the sender retries.
   */
  receive?(received: Received, tx: Queryable): Promise<void>;
  /** After the transaction of one or more receives committed (wake a worker). */
  committed?(): void;
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

/** Builds an application for one application server; `config` is that server's topology entry. */
export type ApplicationFactory = (ctx: ApplicationContext, config: ApplicationServerConfig) => Application;
