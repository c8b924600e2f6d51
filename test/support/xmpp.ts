/**
 * XMPP test clients: @xmpp/client (the real client the issue names) trusting a test CA, and a raw socket for
 * hostile input that no well-behaved client would send.
 */
import { connect as netConnect, type Socket } from 'node:net';
import tls, { type ConnectionOptions, type TLSSocket } from 'node:tls';
import { client, type Client } from '@xmpp/client';

/**
 * @xmpp/client's STARTTLS passes only the host to tls.connect, and NODE_EXTRA_CA_CERTS is read only at process
 * start, so the test CA is added here to TLS connections that name no CA of their own.
 */
export function trustCaForXmppClients(ca: string): () => void {
  const original = tls.connect;
  const patched = ((options: ConnectionOptions, ...rest: unknown[]) =>
    (original as (...a: unknown[]) => TLSSocket)({ ca, ...options }, ...rest)) as typeof tls.connect;
  tls.connect = patched;
  return () => {
    tls.connect = original;
  };
}

export async function xmppLogin(options: {
  port: number;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  mechanism?: 'PLAIN' | 'SCRAM-SHA-1';
}): Promise<Client> {
  const xmpp = client({
    service: `xmpp://127.0.0.1:${options.port}`,
    domain: options.domain,
    resource: options.resource,
    credentials: async (authenticate: (c: object, m: string) => Promise<void>, mechanisms: string[]) => {
      const mechanism = options.mechanism ?? mechanisms.find((m) => m === 'SCRAM-SHA-1') ?? mechanisms[0]!;
      await authenticate({ username: options.username, password: options.password }, mechanism);
    },
  });
  xmpp.reconnect.stop();
  xmpp.on('error', () => undefined);
  await xmpp.start();
  return xmpp;
}

/** A raw TCP conversation: write text, wait until what was read matches. */
export class RawXmpp {
  private received = '';
  private readonly socket: Socket;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (this.received += d));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  static connect(port: number): Promise<RawXmpp> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(port, '127.0.0.1', () => resolve(new RawXmpp(socket)));
      socket.once('error', reject);
    });
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  header(domain: string): void {
    this.write(
      `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
    );
  }

  async waitFor(pattern: RegExp, timeoutMs = 5_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (!pattern.test(this.received)) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${pattern}; received: ${this.received}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.received;
  }

  get text(): string {
    return this.received;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
