/**
 * s2s test helpers: engines on loopback with certificates of throwaway CAs, a router that records what it gets, a
 * logger that keeps every line, and a raw peer for what no well-behaved server would send.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { serverTlsFor, tempDir } from '../../../../test/support/irsp.js';
import {
  S2sServer,
  type BounceCondition,
  type Element,
  type S2sCandidate,
  type S2sLimits,
  type S2sLogger,
  type S2sRouter,
} from '../../src/index.js';

export const SECRET_A = 'secret of a.test 0123456789';
export const SECRET_B = 'secret of b.test 0123456789';
export const STREAM_NS =
  "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback'";

export interface Tls {
  cert: string;
  key: string;
  ca: string;
}

/** A CA in a temporary folder, issuing certificates for domains. */
export class TestCa {
  private constructor(
    private readonly dir: { path: string; remove(): Promise<void> },
    readonly cert: string,
  ) {}
  static async create(): Promise<TestCa> {
    const dir = await tempDir('irsp-s2s-ca-');
    const tls = await serverTlsFor(dir.path, 'probe', ['probe.test']);
    return new TestCa(dir, tls.ca);
  }
  issue(domain: string): Promise<Tls> {
    return serverTlsFor(this.dir.path, domain, [domain]);
  }
  remove(): Promise<void> {
    return this.dir.remove();
  }
}

export interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

export function captureLogger(): { logger: S2sLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: string) =>
    (obj: object, msg: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

/** Records incoming and bounced stanzas (as strings) and lets a test wait for them. */
export class RecordingRouter implements S2sRouter {
  readonly received: string[] = [];
  readonly bounces: { stanza: string; condition: BounceCondition; at: number }[] = [];
  /** How long routing one stanza takes (a router that writes to a database), 0 = at once. */
  delayMs = 0;
  incoming(stanza: Element): void | Promise<void> {
    this.received.push(stanza.toString());
    if (this.delayMs > 0) return new Promise((resolve) => setTimeout(resolve, this.delayMs));
  }
  bounced(stanza: Element, condition: BounceCondition): void {
    this.bounces.push({ stanza: stanza.toString(), condition, at: Date.now() });
  }
}

export async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Engine {
  domain: string;
  server: S2sServer;
  router: RecordingRouter;
  lines: LogLine[];
  port: number;
}

/** Where each test engine listens; engines resolve each other through it. */
export type RouteTable = Record<string, S2sCandidate>;

export async function startEngine(options: {
  domain: string;
  tls: Tls;
  ca: string;
  secret: string;
  table: RouteTable;
  limits?: Partial<S2sLimits>;
  port?: number;
}): Promise<Engine> {
  const router = new RecordingRouter();
  const { logger, lines } = captureLogger();
  const server = new S2sServer({
    domains: [options.domain],
    tls: { cert: options.tls.cert, key: options.tls.key },
    ca: options.ca,
    router,
    logger,
    resolver: async (domain) => (options.table[domain] ? [options.table[domain]] : []),
    dialbackSecret: options.secret,
    limits: options.limits,
  });
  const port = await server.listen(options.port ?? 0, '127.0.0.1');
  options.table[options.domain] = { host: '127.0.0.1', port };
  return { domain: options.domain, server, router, lines, port };
}

/** Log lines with this message, as `{…obj}` objects. */
export function logged(lines: LogLine[], msg: string): Record<string, unknown>[] {
  return lines.filter((l) => l.msg === msg).map((l) => l.obj);
}

/** A hand-driven server-to-server connection. */
export class RawPeer {
  private received = '';
  private socket: Socket;
  closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.closed = this.track(socket);
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(port, '127.0.0.1', () => resolve(new RawPeer(socket)));
      socket.once('error', reject);
    });
  }

  private track(socket: Socket): Promise<void> {
    socket.on('data', (d: Buffer) => (this.received += d.toString('utf8')));
    socket.on('error', () => undefined);
    return new Promise((resolve) => socket.on('close', () => resolve()));
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  header(from: string, to: string, ns = STREAM_NS): void {
    this.write(`<?xml version='1.0'?><stream:stream ${ns} from='${from}' to='${to}' version='1.0'>`);
  }

  async waitFor(pattern: RegExp, timeoutMs = 5_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (!pattern.test(this.received)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${pattern}; received: ${this.received}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.received;
  }

  /** What was received since the last take(). */
  take(): string {
    const text = this.received;
    this.received = '';
    return text;
  }

  /** Header, STARTTLS (with a client certificate when given), header again; returns the stream id and features. */
  async secure(
    from: string,
    to: string,
    client?: { cert: string; key: string },
  ): Promise<{ id: string; features: string }> {
    this.header(from, to);
    await this.waitFor(/<\/stream:features>/);
    this.take();
    this.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await this.waitFor(/<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'\/>/);
    this.take();
    const raw = this.socket;
    raw.removeAllListeners('data');
    const secure = tlsConnect({ socket: raw, servername: to, rejectUnauthorized: false, ...client });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.closed = this.track(secure);
    this.header(from, to);
    const text = await this.waitFor(/<\/stream:features>|<stream:features\/>/);
    this.take();
    const id = /<stream:stream [^>]*id='([^']+)'/.exec(text)?.[1];
    if (id === undefined) throw new Error(`no stream id in ${text}`);
    return { id, features: text.slice(text.indexOf('<stream:features')) };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The full text of a stream error as the engine writes it, followed by the stream close. */
export function streamErrorText(condition: string, text?: string): string {
  const body =
    text === undefined
      ? ''
      : `<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>${text}</text>`;
  return `<stream:error><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>${body}</stream:error></stream:stream>`;
}
