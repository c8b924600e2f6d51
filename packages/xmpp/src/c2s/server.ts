/**
 * The c2s listeners: TCP with STARTTLS required (RFC 6120 §5) and direct TLS (XEP-0368) on a second port, one
 * C2sConnection per client. Closing the server ends every stream with `system-shutdown`.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, type SecureContext } from 'node:tls';
import type { Mechanism } from '../sasl/index.js';
import { C2sConnection, DEFAULT_C2S_LIMITS, type C2sLimits, type C2sLogger } from './connection.js';
import type { C2sRouter } from './session.js';
import type { LoginThrottle } from './throttle.js';

export interface C2sServerOptions {
  domain: string;
  tls: { cert: string; key: string };
  mechanisms: readonly Mechanism[];
  router: C2sRouter;
  logger: C2sLogger;
  limits?: Partial<C2sLimits>;
  /** Connections accepted at once, all listeners together. */
  maxConnections?: number;
  /** Failed-login throttling per address (and per account, through the credential lookup). */
  throttle?: LoginThrottle;
}

export class C2sServer {
  private readonly secureContext: SecureContext;
  private readonly limits: C2sLimits;
  private readonly connections = new Set<C2sConnection>();
  private readonly servers: Server[] = [];

  constructor(private readonly options: C2sServerOptions) {
    this.secureContext = createSecureContext({
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: 'TLSv1.2',
    });
    this.limits = { ...DEFAULT_C2S_LIMITS, ...options.limits };
  }

  /** STARTTLS port (5222 by convention); resolves with the bound port. */
  listen(port: number, host: string): Promise<number> {
    return this.start(
      createServer((socket) => this.accept(socket, false)),
      port,
      host,
    );
  }

  /** Direct TLS port (XEP-0368, 5223 by convention). */
  listenDirectTls(port: number, host: string): Promise<number> {
    // tls.Server takes the certificate itself (a `secureContext` option is ignored there).
    const { cert, key } = this.options.tls;
    const server = createTlsServer({ cert, key, minVersion: 'TLSv1.2' }, (socket) =>
      this.accept(socket, true),
    );
    server.on('tlsClientError', (error) =>
      this.options.logger.debug({ err: error.message }, 'TLS handshake failed'),
    );
    return this.start(server, port, host);
  }

  private start(server: Server, port: number, host: string): Promise<number> {
    this.servers.push(server);
    server.maxConnections = this.options.maxConnections ?? 100_000;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.removeListener('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  private accept(socket: Socket, directTls: boolean): void {
    const connection = new C2sConnection(socket, {
      domain: this.options.domain,
      secureContext: this.secureContext,
      mechanisms: this.options.mechanisms,
      router: this.options.router,
      limits: this.limits,
      logger: this.options.logger,
      directTls,
      ...(this.options.throttle ? { throttle: this.options.throttle } : {}),
      onClose: (c) => this.connections.delete(c),
    });
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
