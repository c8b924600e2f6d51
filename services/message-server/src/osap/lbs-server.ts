/**
 * The LBS listener (Figure 1: TCP+TLS): direct TLS, control messages split off the stream with frameLength and
 * answered one at a time by the connection's LbsSession. A connection idle (TLS handshake included) for
 * `idleTimeoutMs`, or open for `exchangeTimeoutMs` in all, is closed, and every socket takes a slot of the message
 * server's connection budget.
 */
import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { OsapConfig, TlsMaterial } from '@irsp/config';
import { addressSource } from '@irsp/credentials';
import type { Logger } from '@irsp/http';
import { frameLength } from '@irsp/osap';
import type { ConnectionBudget } from '@irsp/xmpp';
import { LbsSession, type LbsDeps } from './lbs-session.js';

/**
 * Control messages a connection may have waiting for their answer. A device never has more than two in flight
 * (apply_devid_Cfm and F1); a peer that sends more is not following the exchange, and is not buffered.
 */
const MAX_PENDING_MESSAGES = 4;

export interface LbsServerOptions {
  config: OsapConfig['lbs'];
  tls: TlsMaterial;
  connections: ConnectionBudget;
  deps: LbsDeps;
  logger: Logger;
}

export class LbsServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: LbsServerOptions) {
    const { tls, config } = options;
    this.server = createServer({ cert: tls.cert, key: tls.key, handshakeTimeout: config.idleTimeoutMs });
    this.server.on('connection', (socket: Socket) => {
      if (!options.connections.admit(socket, 'osap-lbs')) {
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      const deadline = setTimeout(() => socket.destroy(), config.exchangeTimeoutMs);
      socket.once('close', () => {
        clearTimeout(deadline);
        this.sockets.delete(socket);
      });
    });
    this.server.on('secureConnection', (socket) => this.serve(socket));
    this.server.on('tlsClientError', (error, socket) => {
      options.logger.debug({ err: error, remoteAddress: socket.remoteAddress }, 'osap lbs: TLS failed');
      socket.destroy();
    });
  }

  private serve(socket: TLSSocket): void {
    const { deps, config } = this.options;
    const session = new LbsSession(deps, addressSource(socket.remoteAddress));
    let buffered: Buffer = Buffer.alloc(0);
    let done = false;
    let pending = 0;
    let queue = Promise.resolve();
    const finish = () => {
      done = true;
      socket.end();
    };
    socket.setTimeout(config.idleTimeoutMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const length = frameLength(buffered);
        if (!length.ok) return finish();
        if (length.value === undefined) return;
        const frame = buffered.subarray(0, length.value);
        buffered = buffered.subarray(length.value);
        if (++pending > MAX_PENDING_MESSAGES) return finish();
        // One message at a time, in order: each answer depends on the state the previous one left.
        queue = queue.then(async () => {
          pending--;
          if (done) return;
          try {
            const reply = await session.receive(frame);
            for (const bytes of reply.send) socket.write(bytes);
            if (reply.close) finish();
          } catch (error) {
            this.options.logger.error({ err: error }, 'osap lbs: a control message failed');
            finish();
          }
        });
      }
    });
  }

  /** Listens on `port` (0: any free one) at `host`; resolves to the bound port. */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}
