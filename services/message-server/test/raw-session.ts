/**
 * A bound client session on the direct-TLS port with nothing between the test and the socket: it writes what it is
 * told, when it is told (many stanzas in one write), and reads only while not paused — what no client library lets a
 * test do.
 */
import tls, { type TLSSocket } from 'node:tls';
import type { XmppFixture } from './fixture.js';

const HEADER = (domain: string) =>
  `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;

export class RawSession {
  /** Everything read since the last take(). */
  text = '';
  /** The id of the current stream (the server's session id in its logs). */
  streamId = '';
  readonly closed: Promise<void>;

  private constructor(readonly socket: TLSSocket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.text += d;
      if (this.text.length > 4096) return; // headers come at the start of a stream only
      const header = /<stream:stream [^>]*id='([0-9a-f]+)'/.exec(this.text);
      if (header) this.streamId = header[1]!;
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  /** Logs in with PLAIN on the fixture's direct-TLS port and binds `resource` (none: left to the test). */
  static async login(fixture: XmppFixture, username: string, password: string, resource?: string) {
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tls.connect(
        { host: fixture.xmppHost, port: fixture.directTlsPort!, ca: fixture.ca, servername: fixture.domain },
        () => resolve(s),
      );
      s.once('error', reject);
    });
    const session = new RawSession(socket);
    session.write(HEADER(fixture.domain));
    await session.take(/<\?xml[^>]*><stream:stream [^>]*>.*<\/stream:features>/s);
    const plain = Buffer.from(`\0${username}\0${password}`).toString('base64');
    session.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`);
    await session.take(/<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'\/>/);
    session.write(HEADER(fixture.domain));
    await session.take(/<\?xml[^>]*><stream:stream [^>]*>.*<\/stream:features>/s);
    if (resource === undefined) return session;
    session.write(
      `<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`,
    );
    // What was routed to the resource may follow the bind result in the same read: it stays in `text`.
    const bound = await session.waitFor(/^<iq [^>]*id='bind'[^>]*>.*?<\/iq>/s);
    session.text = session.text.slice(bound[0].length);
    return session;
  }

  write(text: string): void {
    this.socket.write(text);
  }

  /** Waits until what was read matches `pattern` (anywhere), up to `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.text);
      if (match) return match;
      if (Date.now() > until)
        throw new Error(`timed out waiting for ${pattern}; read ${this.text.slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Waits until everything read since the last take() is exactly `pattern`, and consumes it. */
  async take(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const whole = new RegExp(`^(?:${pattern.source})$`, pattern.flags);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const match = whole.exec(this.text);
      if (match) {
        this.text = '';
        return match;
      }
      if (Date.now() > until) throw new Error(`expected ${pattern}, read ${this.text.slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
