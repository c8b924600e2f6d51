/**
 * The s2s engine (RFC 6120 §13): the listener for incoming streams and one outgoing route per (our domain, remote
 * domain). The router gets every stanza other servers send to our domains and hands send() the stanzas for
 * theirs; what cannot be delivered comes back through `router.bounced()`. Knows XMPP, not the IRSP.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { ConnectionBudget, connectionCap, openFileLimit } from '../connection-budget.js';
import { streamError } from '../errors.js';
import { canonicalDomain, parseJid } from '../jid.js';
import { NS } from '../namespaces.js';
import { randomHex } from '../sasl/random.js';
import type { Element } from '../xml/element.js';
import { TrustedCas } from './certificates.js';
import type { DialbackVerdict } from './dialback.js';
import type { S2sLink } from './link.js';
import { IncomingStream } from './incoming.js';
import { DEFAULT_S2S_LIMITS, type S2sLimits, type S2sLogger, type S2sRouter } from './options.js';
import { createResolver, type S2sResolver, type S2sRoutes } from './resolver.js';
import { OutgoingRoute, type RouteContext } from './route.js';

const SPECIAL_USE_TLDS = new Set([
  'localhost',
  'invalid',
  'test',
  'example',
  'local',
  'onion',
  'alt',
  'arpa',
  'internal',
]);

export interface S2sServerOptions {
  /** The domains we serve (the `to` of incoming streams, the `from` of outgoing ones). */
  domains: string[];
  /** Our certificate: presented to peers as server and as client (SASL EXTERNAL, XEP-0178). */
  tls: { cert: string; key: string };
  /** CAs trusted for peers' certificates; default Node's root certificates. */
  ca?: string | string[];
  router: S2sRouter;
  logger: S2sLogger;
  /** Static routes, tried before DNS (ignored when `resolver` is given). */
  routes?: S2sRoutes;
  resolver?: S2sResolver;
  /** Secret of our dialback keys (XEP-0185); every server of our domains must share it. Never logged. */
  dialbackSecret: string;
  limits?: Partial<S2sLimits>;
  /**
   * Incoming connections held at once (sockets, from accept() on): default the process's file limit less a
   * reserve (connection-budget.ts). Ignored when `connections` is given.
   */
  maxConnections?: number;
  /** A budget shared with the process's other listeners (c2s, HTTPS). */
  connections?: ConnectionBudget;
}

export class S2sServer {
  private readonly domains: ReadonlySet<string>;
  private readonly limits: S2sLimits;
  private readonly secureContext: SecureContext;
  private readonly trustedCas: TrustedCas;
  private readonly routeContext: RouteContext;
  private readonly incoming = new Set<IncomingStream>();
  private readonly routes = new Map<string, OutgoingRoute>();
  private readonly servers: Server[] = [];
  private readonly budget: ConnectionBudget;
  private sockets = 0;
  /** Dialback results of all incoming streams waiting for their verdict. */
  private pendingDialbacks = 0;
  private readonly staticRoutes: ReadonlySet<string>;
  private closed = false;

  constructor(private readonly options: S2sServerOptions) {
    const domains = options.domains.map((d) => canonicalDomain(d));
    if (domains.length === 0 || domains.some((d) => d === undefined)) {
      throw new TypeError('s2s: domains must be one or more valid domain names');
    }
    if (options.dialbackSecret.length < 16)
      throw new TypeError('s2s: dialbackSecret must be at least 16 characters');
    this.domains = new Set(domains as string[]);
    this.limits = { ...DEFAULT_S2S_LIMITS, ...options.limits };
    this.budget =
      options.connections ??
      new ConnectionBudget(connectionCap(options.maxConnections, openFileLimit()), options.logger);
    const { cert, key } = options.tls;
    this.secureContext = createSecureContext({
      cert,
      key,
      minVersion: 'TLSv1.2',
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    });
    this.trustedCas = new TrustedCas();
    this.routeContext = {
      resolver: options.resolver ?? createResolver(options.routes ? { routes: options.routes } : {}),
      tls: { cert, key, ca: options.ca },
      dialbackSecret: options.dialbackSecret,
      router: options.router,
      logger: options.logger,
      limits: this.limits,
      retire: (route) => {
        const key = `${route.local} ${route.remote}`;
        if (this.routes.get(key) === route) this.routes.delete(key);
      },
    };
    this.staticRoutes = new Set(Object.keys(options.routes ?? {}));
  }

  /** Listens for incoming streams (5269 by convention); resolves with the bound port. */
  listen(port: number, host: string): Promise<number> {
    const server = createServer((socket) => this.accept(socket));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.removeListener('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Sends a stanza to the server of its `to` domain, from our domain in its `from` (our first domain when it has
   * none). Never throws: a stanza that cannot go out is bounced.
   */
  send(stanza: Element): void {
    const to = stanza.attrs.to === undefined ? undefined : parseJid(stanza.attrs.to);
    const from = stanza.attrs.from === undefined ? undefined : parseJid(stanza.attrs.from);
    const local = from === undefined ? [...this.domains][0]! : from.domain;
    if (this.closed || !to || this.domains.has(to.domain) || !this.domains.has(local)) {
      this.options.logger.warn(
        { to: stanza.attrs.to, from: stanza.attrs.from, closed: this.closed },
        's2s: stanza with no remote route',
      );
      this.bounce(stanza);
      return;
    }
    this.route(local, to.domain).send(stanza);
  }

  /** Every authenticated stream now, incoming and outgoing: which pair of domains, how, since when. */
  links(): S2sLink[] {
    return [
      ...[...this.incoming].flatMap((stream) => stream.links),
      ...[...this.routes.values()].flatMap((route) => route.link() ?? []),
    ];
  }

  /** Ends every stream (`system-shutdown` on incoming ones), bounces what waits, stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    const closing = this.servers.map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const stream of [...this.incoming]) stream.close('system-shutdown');
    for (const route of this.routes.values()) route.close();
    this.routes.clear();
    await Promise.all(closing);
  }

  private bounce(stanza: Element): void {
    try {
      this.options.router.bounced(stanza, 'remote-server-not-found');
    } catch (error) {
      this.options.logger.error(
        { err: error instanceof Error ? error.message : String(error) },
        's2s bounce failed',
      );
    }
  }

  private route(local: string, remote: string): OutgoingRoute {
    const key = `${local} ${remote}`;
    let route = this.routes.get(key);
    if (route === undefined) {
      route = new OutgoingRoute(local, remote, this.routeContext);
      this.routes.set(key, route);
    }
    return route;
  }

  /** Outgoing routes held (each: one remote domain, its stream, queue and verifications). */
  get outgoingRouteCount(): number {
    return this.routes.size;
  }

  /**
   * A peer asks us to dial `remote` to check its key (XEP-0220 §2.2). Any peer past STARTTLS may ask, for any
   * domain it names: only plausible domains are dialled, and only so many checks wait at once in total.
   */
  private verifyKey(local: string, remote: string, streamId: string, key: string): Promise<DialbackVerdict> {
    if (this.closed) return Promise.resolve({ error: 'remote-server-not-found' });
    // Nobody else is authoritative for our own domains.
    if (this.domains.has(remote)) return Promise.resolve('invalid');
    if (!this.plausibleRemote(remote)) {
      this.options.logger.debug({ local, remote }, 's2s dialback: implausible domain not dialled');
      return Promise.resolve({ error: 'remote-server-not-found' });
    }
    if (this.pendingDialbacks >= this.limits.maxPendingDialbacksTotal) {
      this.options.logger.warn(
        { local, remote, max: this.limits.maxPendingDialbacksTotal },
        's2s dialback: too many verifications waiting',
      );
      return Promise.resolve({ error: 'resource-constraint' });
    }
    this.pendingDialbacks++;
    return this.route(local, remote)
      .verify(streamId, key)
      .finally(() => this.pendingDialbacks--);
  }

  /**
   * Whether a domain is worth a DNS lookup and a connection: one with a static route always; otherwise a DNS name of
   * two labels or more (canonicalDomain has checked the syntax) that is no IP literal, and — unless a resolver of
   * the caller's answers for every domain — not under a special-use or non-public top-level domain (RFC 6761:
   * localhost, invalid, test, example; RFC 6762 local; RFC 7686 onion; RFC 9476 alt; arpa; internal).
   */
  private plausibleRemote(domain: string): boolean {
    if (this.staticRoutes.has(domain)) return true;
    if (domain.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(domain)) return false;
    const labels = domain.split('.');
    if (labels.length < 2) return false;
    if (this.options.resolver !== undefined) return true;
    return !SPECIAL_USE_TLDS.has(labels[labels.length - 1]!);
  }

  /** Incoming sockets open now, from accept() on. */
  get connectionCount(): number {
    return this.sockets;
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (!this.budget.admit(socket, 's2s')) {
      // RFC 6120 §4.9.3.17, before the peer's header (§4.9.1.1: our header first).
      socket.on('error', () => undefined);
      socket.end(
        `<?xml version='1.0'?><stream:stream xmlns='${NS.server}' xmlns:stream='${NS.stream}' ` +
          `id='${randomHex(12)}' from='${[...this.domains][0]!}' version='1.0'>` +
          streamError('resource-constraint', 'too many connections').toString() +
          '</stream:stream>',
      );
      setTimeout(() => socket.destroy(), 2_000).unref();
      return;
    }
    this.sockets++;
    socket.once('close', () => this.sockets--);
    const stream = new IncomingStream(
      socket,
      {
        domains: this.domains,
        secureContext: this.secureContext,
        trustedCas: this.trustedCas,
        dialbackSecret: this.options.dialbackSecret,
        router: this.options.router,
        logger: this.options.logger,
        limits: this.limits,
        verifyKey: (local, remote, streamId, key) => this.verifyKey(local, remote, streamId, key),
      },
      (s) => this.incoming.delete(s),
    );
    this.incoming.add(stream);
  }
}
