/**
 * The c2s listeners: TCP with STARTTLS required (RFC 6120 §5), direct TLS (XEP-0368), XMPP over WebSocket on
 * HTTPS (RFC 7395) and plain TCP behind a TLS-terminating proxy, one C2sConnection per client. Closing the server
 * ends every stream with `system-shutdown`.
 *
 * Nobody holds a connection without getting in: a TLS handshake (and on WebSocket the HTTP upgrade request) must
 * finish within `handshakeTimeoutMs`, and the stream within `authTimeoutMs` of the connection's start (header,
 * STARTTLS, SASL, bind). Every socket takes a slot of the connection budget from accept() on; beyond it the
 * connection is refused (a `resource-constraint` stream error where the stream starts in clear).
 */
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext, createServer as createTlsServer, type SecureContext } from 'node:tls';
import { WebSocketServer } from 'ws';
import { ConnectionBudget, connectionCap, openFileLimit } from '../connection-budget.js';
import { streamError } from '../errors.js';
import { NS } from '../namespaces.js';
import type { Mechanism } from '../sasl/index.js';
import { randomHex } from '../sasl/random.js';
import {
  C2sConnection,
  DEFAULT_C2S_LIMITS,
  type C2sConnectionOptions,
  type C2sLimits,
  type C2sLogger,
  type ResumableSessions,
} from './connection.js';
import { BoundResources, DEFAULT_MAX_RESOURCES_PER_ACCOUNT } from './resources.js';
import type { C2sRouter } from './session.js';
import { TcpTransport } from './tcp-transport.js';
import type { LoginGuard } from './throttle.js';
import type { C2sTransport } from './transport.js';
import { WebSocketTransport } from './websocket-transport.js';

export interface C2sServerOptions {
  domain: string;
  tls: { cert: string; key: string };
  mechanisms: readonly Mechanism[];
  router: C2sRouter;
  logger: C2sLogger;
  limits?: Partial<C2sLimits>;
  /**
   * Connections held at once, all listeners together (sockets, from accept() on): default the process's file
   * limit less a reserve (connection-budget.ts), never above it. Ignored when `connections` is given.
   */
  maxConnections?: number;
  /** A budget shared with the process's other listeners (s2s, HTTPS). */
  connections?: ConnectionBudget;
  /** Time for a TLS handshake (direct TLS, WebSocket) and for the WebSocket's HTTP upgrade request. */
  handshakeTimeoutMs?: number;
  /** Login throttling (per address before an attempt, and before its answer). */
  throttle?: LoginGuard;
  /** Resources one account may bind at once on this server (RFC 6120 §7.6.2.1); default 32. */
  maxResourcesPerAccount?: number;
  /** A `<resume/>` with an id this server did not issue: asked of the other servers of the domain first. */
  resumeElsewhere?: (previd: string, username: string) => Promise<void>;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export class C2sServer {
  private readonly secureContext: SecureContext;
  private readonly budget: ConnectionBudget;
  private readonly handshakeTimeoutMs: number;
  private sockets = 0;
  private readonly limits: C2sLimits;
  private readonly connections = new Set<C2sConnection>();
  /** Sessions that may be resumed (XEP-0198 §5) on any listener of this server. */
  private readonly resumable: ResumableSessions = new Map();
  private readonly servers: Server[] = [];
  /** What the plain listener offers: the SCRAM mechanisms without channel binding, in the configured order. */
  private readonly plainMechanisms: readonly Mechanism[];
  /** Shared by the connections of the TLS listeners, and of the plain one behind a proxy. */
  private readonly connectionOptions: C2sConnectionOptions;
  private readonly proxiedConnectionOptions: C2sConnectionOptions;

  constructor(private readonly options: C2sServerOptions) {
    this.secureContext = createSecureContext({
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: 'TLSv1.2',
    });
    this.limits = { ...DEFAULT_C2S_LIMITS, ...options.limits };
    this.budget =
      options.connections ??
      new ConnectionBudget(connectionCap(options.maxConnections, openFileLimit()), options.logger);
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    // -PLUS variants bind to the TLS channel, which on this listener is the proxy's, not ours.
    this.plainMechanisms = options.mechanisms.filter((m) => /^SCRAM-SHA-[0-9]+$/.test(m.name));
    this.connectionOptions = {
      domain: options.domain,
      mechanisms: options.mechanisms,
      router: options.router,
      limits: this.limits,
      logger: options.logger,
      ...(options.throttle ? { throttle: options.throttle } : {}),
      resources: new BoundResources(options.maxResourcesPerAccount ?? DEFAULT_MAX_RESOURCES_PER_ACCOUNT),
      onClose: (c) => this.connections.delete(c),
      resumable: this.resumable,
      ...(options.resumeElsewhere ? { resumeElsewhere: options.resumeElsewhere } : {}),
    };
    this.proxiedConnectionOptions = {
      ...this.connectionOptions,
      mechanisms: this.plainMechanisms,
      tlsByProxy: true,
    };
  }

  /**
   * Another server of the domain was asked to resume a session of `username` that this one issued `previd` for:
   * the session ends here at once (connection.abandon()). False when no such session is here.
   */
  abandonResumable(previd: string, username: string): boolean {
    return this.resumable.get(previd)?.abandon(username) ?? false;
  }

  /** Sockets of these listeners open now, from accept() on (TLS handshakes included). */
  get connectionCount(): number {
    return this.sockets;
  }

  /** STARTTLS port (5222 by convention); resolves with the bound port. */
  listen(port: number, host: string): Promise<number> {
    return this.start(
      createServer((socket) => {
        if (this.admit(socket, 'c2s', true)) this.acceptTcp(socket, false);
      }),
      port,
      host,
    );
  }

  /**
   * Plain TCP for a TLS-terminating proxy in front of the server, which encrypts towards the client: no STARTTLS
   * here, and only SASL mechanisms that never send the password (SCRAM, RFC 5802 §9), since the hop from the
   * proxy is in clear. PLAIN is not offered. Must only be reachable from the proxy.
   */
  listenPlain(port: number, host: string): Promise<number> {
    if (this.plainMechanisms.length === 0)
      return Promise.reject(new Error('no SCRAM mechanism to offer on a listener without TLS'));
    return this.start(
      createServer((socket) => {
        if (this.admit(socket, 'c2s-plain', true)) this.acceptTcp(socket, false, true);
      }),
      port,
      host,
    );
  }

  /** Direct TLS port (XEP-0368, 5223 by convention). */
  listenDirectTls(port: number, host: string): Promise<number> {
    // tls.Server takes the certificate itself (a `secureContext` option is ignored there).
    const { cert, key } = this.options.tls;
    const server = createTlsServer(
      { cert, key, minVersion: 'TLSv1.2', handshakeTimeout: this.handshakeTimeoutMs },
      (socket) => this.acceptTcp(socket, true),
    );
    this.guardTls(server, 'c2s-direct-tls');
    return this.start(server, port, host);
  }

  /**
   * XMPP over WebSocket (RFC 7395) at `wss://host:port/path`, HTTPS only (TLS 1.2+): TLS is the WebSocket's
   * (§3.9), so streams start at SASL. Messages above `maxStanzaBytes` get a `policy-violation` stream error; ws
   * buffers at most twice that and answers anything larger with close code 1009 (RFC 6455 §7.4.1) alone.
   */
  listenWebSocket(port: number, host: string, path = '/xmpp-websocket'): Promise<number> {
    const { cert, key } = this.options.tls;
    const timeout = this.handshakeTimeoutMs;
    const server = createHttpsServer(
      {
        cert,
        key,
        minVersion: 'TLSv1.2',
        handshakeTimeout: timeout,
        // The upgrade request's headers (and any plain request) within the same bound; Node checks it on an
        // interval of its own (30 s by default), so finer here.
        headersTimeout: timeout,
        requestTimeout: timeout,
        connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(timeout / 4))),
      },
      (request, response) => {
        // Only WebSocket handshakes are served: a plain request for the path is told to upgrade (RFC 7231 §6.5.15).
        if (pathname(request) === path)
          response.writeHead(426, { connection: 'close', upgrade: 'websocket' });
        else response.writeHead(404, { connection: 'close' });
        response.end();
      },
    );
    this.guardTls(server, 'c2s-websocket');
    const maxStanzaBytes = this.limits.maxStanzaBytes;
    const webSockets = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: 2 * maxStanzaBytes,
      handleProtocols: () => 'xmpp',
    });
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const refusal = refuseHandshake(request, path);
      if (refusal) {
        // The HTTP server no longer watches a socket it hands over for an upgrade.
        socket.on('error', () => undefined);
        socket.end(refusal);
        return;
      }
      webSockets.handleUpgrade(request, socket, head, (ws) =>
        this.accept(
          new WebSocketTransport(ws, request.socket, {
            maxStanzaBytes,
            idleTimeoutMs: this.limits.idleTimeoutMs,
          }),
        ),
      );
    });
    return this.start(server, port, host);
  }

  /**
   * A TLS listener: the raw socket takes its slot before the handshake, and a handshake that fails or does not
   * finish in time ends the socket (Node only reports it through `tlsClientError` and leaves the socket open).
   */
  private guardTls(server: Server, listener: string): void {
    server.on('connection', (socket: Socket) => {
      this.admit(socket, listener, false);
    });
    server.on('tlsClientError', (error: Error, socket: Duplex) => {
      // At info: an operator looking for why a client cannot connect must see it (no secret is in it).
      this.options.logger.info({ err: error.message, listener }, 'TLS handshake failed');
      socket.destroy();
    });
  }

  /**
   * Takes a slot of the budget for the socket, or refuses it: with a `resource-constraint` stream error when the
   * stream starts in clear (RFC 6120 §4.9.3.17), by closing it when TLS comes first.
   */
  private admit(socket: Socket, listener: string, clearStream: boolean): boolean {
    if (!this.budget.admit(socket, listener)) {
      socket.on('error', () => undefined);
      if (clearStream) {
        socket.end(
          `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}' ` +
            `id='${randomHex(12)}' from='${this.options.domain}' version='1.0' xml:lang='en'>` +
            streamError('resource-constraint', 'too many connections').toString() +
            '</stream:stream>',
        );
        setTimeout(() => socket.destroy(), 2_000).unref();
      } else socket.destroy();
      return false;
    }
    this.sockets++;
    socket.once('close', () => this.sockets--);
    return true;
  }

  private start(server: Server, port: number, host: string): Promise<number> {
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.removeListener('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  private acceptTcp(socket: Socket, directTls: boolean, behindProxy = false): void {
    this.accept(
      new TcpTransport(socket, {
        directTls,
        secureContext: this.secureContext,
        maxStanzaBytes: this.limits.maxStanzaBytes,
        idleTimeoutMs: this.limits.idleTimeoutMs,
      }),
      behindProxy,
    );
  }

  private accept(transport: C2sTransport, behindProxy = false): void {
    const connection = new C2sConnection(
      transport,
      behindProxy ? this.proxiedConnectionOptions : this.connectionOptions,
    );
    this.connections.add(connection);
  }

  async close(): Promise<void> {
    const closing = this.servers.map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const connection of [...this.connections]) connection.close('system-shutdown');
    await Promise.all(closing);
  }
}

/** Why a WebSocket handshake is refused, as an HTTP response; undefined when it may proceed. */
function refuseHandshake(request: IncomingMessage, path: string): string | undefined {
  if (pathname(request) !== path) return httpResponse(404, 'Not Found', 'no WebSocket here');
  // RFC 7395 §3.1: the client offers the `xmpp` subprotocol; a handshake without it is not an XMPP one.
  const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  if (!offered.includes('xmpp')) {
    return httpResponse(400, 'Bad Request', 'the xmpp subprotocol is required (RFC 7395 §3.1)');
  }
  return undefined;
}

function pathname(request: IncomingMessage): string | undefined {
  return request.url?.split('?')[0];
}

function httpResponse(status: number, reason: string, body: string): string {
  return (
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}
