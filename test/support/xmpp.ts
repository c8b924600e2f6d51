/**
 * XMPP test clients: @xmpp/client (the real client the issue names) trusting a test CA, and a raw socket for
 * hostile input that no well-behaved client would send.
 */
import { connect as netConnect, type Socket } from 'node:net';
import tls, { type ConnectionOptions, type TLSSocket } from 'node:tls';
import { client, xml, type Client, type XmlElement } from '@xmpp/client';

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
  /** Where the server listens (default 127.0.0.1). */
  host?: string;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  mechanism?: 'PLAIN' | 'SCRAM-SHA-1';
}): Promise<Client> {
  const xmpp = client({
    service: `xmpp://${options.host ?? '127.0.0.1'}:${options.port}`,
    domain: options.domain,
    resource: options.resource,
    // The default of 2 s per step is too short on a loaded machine (never assert on speed).
    timeout: 10_000,
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

/**
 * Every stanza a client receives, kept from the moment it is created, so that a test can wait for one that
 * already arrived: `next()` takes the first that matches out of the inbox (waiting for it on the client's
 * `stanza` events), `has()` looks without taking.
 */
export class XmppInbox {
  readonly stanzas: XmlElement[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(readonly client: Client) {
    client.on('stanza', (stanza: XmlElement) => {
      this.stanzas.push(stanza);
      for (const wake of [...this.waiters]) wake();
    });
  }

  has(match: (s: XmlElement) => boolean): boolean {
    return this.stanzas.some(match);
  }

  next(match: (s: XmlElement) => boolean, timeoutMs = 5_000): Promise<XmlElement> {
    return new Promise((resolve, reject) => {
      const take = (): boolean => {
        const index = this.stanzas.findIndex(match);
        if (index === -1) return false;
        const [found] = this.stanzas.splice(index, 1);
        resolve(found!);
        return true;
      };
      if (take()) return;
      const wake = () => {
        if (!take()) return;
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`nothing matching arrived; inbox:\n${this.stanzas.map(String).join('\n')}`));
      }, timeoutMs);
      this.waiters.add(wake);
    });
  }

  /** The attributes of the next roster push about `jid` (RFC 6121 §2.1.6), acknowledged as a client must. */
  async rosterPush(jid: string): Promise<Record<string, string>> {
    const push = await this.next(
      (s) =>
        s.is('iq') &&
        s.attrs.type === 'set' &&
        s.getChild('query', 'jabber:iq:roster')?.getChild('item')?.attrs.jid === jid,
    );
    await this.client.send(xml('iq', { type: 'result', id: push.attrs.id }));
    return push.getChild('query', 'jabber:iq:roster')!.getChild('item')!.attrs;
  }
}

/** A raw TCP conversation (STARTTLS possible): write text, wait until what was read matches. */
export class RawXmpp {
  private received = '';
  private socket: Socket;
  readonly closed: Promise<void>;
  private markClosed: () => void = () => undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.listen(socket);
  }

  private listen(socket: Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (this.received += d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (socket === this.socket) this.markClosed();
    });
  }

  /**
   * Upgrades the connection to TLS (after the server's `<proceed/>`), checking the server's certificate for
   * `servername` against `ca`. What was read so far is forgotten: a new stream begins.
   */
  startTls(options: { servername: string; ca: string }): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    return new Promise((resolve, reject) => {
      const secure = tls.connect({ socket: raw, servername: options.servername, ca: options.ca }, () => {
        this.received = '';
        resolve();
      });
      secure.once('error', reject);
      this.socket = secure;
      this.listen(secure);
    });
  }

  /** `localAddress`: another loopback source address (127.0.0.0/8), to stand for another client address. */
  static connect(port: number, localAddress?: string): Promise<RawXmpp> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host: '127.0.0.1', localAddress }, () =>
        resolve(new RawXmpp(socket)),
      );
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

  /** Waits until everything read since the last `take()` matches the whole of `pattern`, and consumes it. */
  async take(pattern: RegExp, timeoutMs = 5_000): Promise<RegExpExecArray> {
    const whole = new RegExp(`^(?:${pattern.source})$`);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const match = whole.exec(this.received);
      if (match) {
        this.received = '';
        return match;
      }
      if (Date.now() > until) throw new Error(`expected ${pattern}, read ${this.received}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  get text(): string {
    return this.received;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
