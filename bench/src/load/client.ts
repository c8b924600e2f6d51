/**
 * A minimal XMPP client for load: raw socket, STARTTLS, SASL SCRAM-SHA-1 or PLAIN, bind. After login every
 * stanza goes to `onStanza` as text; writers pipeline freely and may wait for `drain`.
 */
import { connect as netConnect, type Socket } from 'node:net';
import {
  connect as tlsConnect,
  createSecureContext,
  type DetailedPeerCertificate,
  type SecureContext,
  type TLSSocket,
} from 'node:tls';
import { ScramSha1Client, plainMessage, type SaltedPasswordCache } from './scram.js';
import { StanzaSplitter, attribute, type StreamEvent } from './splitter.js';

export interface LoginOptions {
  host: string;
  port: number;
  domain: string;
  username: string;
  password: string;
  resource: string;
  /** STARTTLS before SASL (every server here requires it unless configured otherwise). */
  starttls: boolean;
  /** CA the server certificate is checked with. */
  ca: string;
  mechanism: 'SCRAM-SHA-1' | 'PLAIN';
  saltedPasswords?: SaltedPasswordCache;
  /** Source address (127.0.0.x) when one address runs out of ephemeral ports. */
  localAddress?: string;
  /**
   * A TLS session (ticket) the server issued to an earlier connection, offered for resumption; without it the
   * handshake is a full one, as a new client's first. Whether the server took it: `tlsResumed`.
   */
  tlsSession?: Buffer;
  timeoutMs?: number;
}

/**
 * One TLS context per CA for every connection: given `ca`, tls.connect parses it into a context of its own per
 * connection, which cost the load generator more than the server's whole share of a login. The server's
 * certificate chain and name are still checked on every connection.
 */
const contexts = new Map<string, SecureContext>();
function contextFor(ca: string): SecureContext {
  let context = contexts.get(ca);
  if (!context) {
    context = createSecureContext({ ca, minVersion: 'TLSv1.2' });
    contexts.set(ca, context);
  }
  return context;
}

/**
 * What Node's server-name check (checkServerIdentity) reads of the peer's certificate, taken from the native
 * certificate: Node calls getPeerCertificate(true) for it, which turns the whole chain into JS objects, 0.38 ms of
 * the load generator's CPU per connection (its profile, login scenario). The chain is still verified by OpenSSL
 * against the run's CA, and the name still checked against the subjectAltName.
 */
function peerNames(this: TLSSocket): DetailedPeerCertificate {
  const certificate = this.getPeerX509Certificate();
  return { subject: {}, subjectaltname: certificate?.subjectAltName ?? '' } as DetailedPeerCertificate;
}

/**
 * TLS on `raw`, the server's chain checked against `ca` and its certificate against `servername`; `session`
 * offers an earlier connection's session for resumption (Node never resumes on its own).
 */
export function startTls(raw: Socket, servername: string, ca: string, session?: Buffer): TLSSocket {
  const secure = tlsConnect({ socket: raw, servername, secureContext: contextFor(ca), session });
  secure.getPeerCertificate = peerNames;
  return secure;
}

const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';

export class XmppClient {
  /** The full JID the server bound. */
  jid = '';
  /** The last TLS session the server issued on this connection (TLS 1.3: a ticket after the handshake). */
  tlsSession: Buffer | undefined;
  /** Whether the TLS handshake resumed the session offered (LoginOptions.tlsSession). */
  tlsResumed = false;
  onStanza: (name: string, xml: string) => void = () => {};
  onClose: () => void = () => {};
  private socket: Socket | TLSSocket;
  private splitter!: StanzaSplitter;
  private readonly queue: StreamEvent[] = [];
  private waiter: ((event: StreamEvent | undefined) => void) | undefined;
  private online = false;
  private ended = false;
  private readonly requests = new Map<string, (xml: string) => void>();
  private requestId = 0;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    this.attach(socket);
  }

  /** Connects and logs in; resolves once the resource is bound. */
  static async login(options: LoginOptions): Promise<XmppClient> {
    const socket = netConnect({ host: options.host, port: options.port, localAddress: options.localAddress });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new XmppClient(socket);
    const timer = setTimeout(() => client.destroy(), options.timeoutMs ?? 60_000);
    try {
      await client.negotiate(options);
      return client;
    } catch (error) {
      client.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private attach(socket: Socket | TLSSocket): void {
    this.splitter = new StanzaSplitter((event) => this.dispatch(event));
    socket.on('data', (chunk: Buffer) => this.splitter.push(chunk));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
  }

  private dispatch(event: StreamEvent): void {
    if (this.online && event.kind === 'stanza') {
      if (event.name === 'iq' && this.requests.size > 0) {
        const id = attribute(event.xml, 'id');
        const type = attribute(event.xml, 'type');
        const resolve = id === undefined ? undefined : this.requests.get(id);
        if (resolve && (type === 'result' || type === 'error')) {
          this.requests.delete(id!);
          return resolve(event.xml);
        }
      }
      return this.onStanza(event.name, event.xml);
    }
    if (event.kind === 'close') return this.destroy();
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(event);
    } else {
      this.queue.push(event);
    }
  }

  private next(): Promise<StreamEvent> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.reject(new Error('stream closed during login'));
    return new Promise((resolve, reject) => {
      this.waiter = (event) => (event ? resolve(event) : reject(new Error('stream closed during login')));
    });
  }

  private async stanza(): Promise<{ name: string; xml: string }> {
    for (;;) {
      const event = await this.next();
      if (event.kind === 'stanza') return event;
    }
  }

  private async openStream(domain: string): Promise<string> {
    this.write(
      `<?xml version='1.0'?><stream:stream to='${domain}' xmlns='jabber:client' ` +
        `xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`,
    );
    const features = await this.stanza();
    if (!features.name.endsWith('features')) throw new Error(`expected features, got ${features.xml}`);
    return features.xml;
  }

  private async negotiate(o: LoginOptions): Promise<void> {
    let features = await this.openStream(o.domain);
    if (o.starttls) {
      if (!features.includes(NS_TLS)) throw new Error('server offers no STARTTLS');
      this.write(`<starttls xmlns='${NS_TLS}'/>`);
      const answer = await this.stanza();
      if (answer.name !== 'proceed') throw new Error(`STARTTLS refused: ${answer.xml}`);
      await this.upgrade(o);
      features = await this.openStream(o.domain);
    }
    if (!features.includes(`>${o.mechanism}<`)) throw new Error(`server does not offer ${o.mechanism}`);
    await this.authenticate(o);
    await this.openStream(o.domain);
    this.write(
      `<iq type='set' id='bind1'><bind xmlns='${NS_BIND}'><resource>${o.resource}</resource></bind></iq>`,
    );
    const bound = await this.stanza();
    const jid = /<jid>([^<]+)<\/jid>/.exec(bound.xml)?.[1];
    if (attribute(bound.xml, 'type') !== 'result' || !jid) throw new Error(`bind failed: ${bound.xml}`);
    this.jid = jid;
    // Stanzas that came with the bind result, or after it, are for `onStanza`, which the caller sets once login has
    // resolved: they are handed over on the next turn of the event loop, in order, with anything arriving meanwhile
    // queued behind them (handed over at once, they went to the default handler and were lost to the count).
    setImmediate(() => {
      this.online = true;
      for (const event of this.queue.splice(0)) this.dispatch(event);
    });
  }

  private async upgrade(o: LoginOptions): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('error');
    const secure = startTls(raw as Socket, o.domain, o.ca, o.tlsSession);
    this.socket = secure;
    this.attach(secure);
    secure.on('session', (session: Buffer) => (this.tlsSession = session));
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.tlsResumed = secure.isSessionReused();
  }

  private async authenticate(o: LoginOptions): Promise<void> {
    const send = (name: string, text: string, attrs = '') =>
      this.write(`<${name} xmlns='${NS_SASL}'${attrs}>${Buffer.from(text).toString('base64')}</${name}>`);
    const payload = (xml: string) => Buffer.from(/>([^<]*)</.exec(xml)?.[1] ?? '', 'base64').toString();
    if (o.mechanism === 'PLAIN') {
      send('auth', plainMessage(o.username, o.password), ` mechanism='PLAIN'`);
    } else {
      const scram = new ScramSha1Client(o.username, o.password, undefined, o.saltedPasswords);
      send('auth', scram.first(), ` mechanism='SCRAM-SHA-1'`);
      const challenge = await this.stanza();
      if (challenge.name !== 'challenge') throw new Error(`SASL failed: ${challenge.xml}`);
      send('response', scram.final(payload(challenge.xml)));
      const outcome = await this.stanza();
      if (outcome.name !== 'success') throw new Error(`SASL failed for ${o.username}: ${outcome.xml}`);
      if (!scram.verify(payload(outcome.xml))) throw new Error('server signature does not verify');
      return this.restart();
    }
    const outcome = await this.stanza();
    if (outcome.name !== 'success') throw new Error(`SASL failed for ${o.username}: ${outcome.xml}`);
    this.restart();
  }

  /** RFC 6120 §6.4.6: after SASL success both sides start a new stream on the same socket. */
  private restart(): void {
    this.splitter = new StanzaSplitter((event) => this.dispatch(event));
    this.socket.removeAllListeners('data');
    this.socket.on('data', (chunk: Buffer) => this.splitter.push(chunk));
  }

  /** Writes raw XML; false when the socket buffer is full (wait for `drained()`). */
  write(xml: string): boolean {
    if (this.ended) return false;
    return this.socket.write(xml);
  }

  /** Sends an iq (`body` without the id) and resolves with the answer. */
  request(body: (id: string) => string): Promise<string> {
    const id = `q${++this.requestId}`;
    return new Promise((resolve, reject) => {
      if (!this.write(body(id)) && this.ended) return reject(new Error('stream closed'));
      this.requests.set(id, resolve);
    });
  }

  drained(): Promise<void> {
    if (this.ended || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('drain', resolve));
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Ends the stream politely and waits for the socket to close. */
  async close(): Promise<void> {
    if (this.ended) return;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.socket.end('</stream:stream>');
    const timer = setTimeout(() => this.destroy(), 5_000);
    await closed;
    clearTimeout(timer);
  }

  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.destroy();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(undefined);
    this.onClose();
  }
}
