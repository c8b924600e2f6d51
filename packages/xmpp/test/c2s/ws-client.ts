/** A raw RFC 7395 client on `ws`: every message it gets, in order, for exact assertions. */
import { once } from 'node:events';
import WebSocket from 'ws';

export const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
export const CLOSE = `<close xmlns='${FRAMING}'/>`;

export class WsClient {
  /** Text messages as received; a binary one as `<binary>`. */
  readonly frames: string[] = [];
  readonly pings: Buffer[] = [];
  /** The WebSocket close code and reason, once closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  private read = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => this.frames.push(isBinary ? '<binary>' : String(data)));
    ws.on('ping', (data) => this.pings.push(data));
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static async connect(url: string, ca: string, protocols: string[] = ['xmpp']): Promise<WsClient> {
    const ws = new WebSocket(url, protocols, { ca });
    const client = new WsClient(ws);
    await once(ws, 'open');
    return client;
  }

  send(data: string | Buffer): void {
    this.ws.send(data);
  }

  open(to: string): void {
    this.send(`<open xmlns='${FRAMING}' to='${to}' version='1.0'/>`);
  }

  /** The next message not read yet. */
  async next(timeoutMs = 5_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (this.frames.length <= this.read) {
      if (Date.now() > until) throw new Error(`no message in time; received: ${this.frames.join('\n')}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.frames[this.read++]!;
  }

  /** The next messages until one matches (those before it are skipped). */
  async nextMatching(pattern: RegExp, timeoutMs = 5_000): Promise<string> {
    for (;;) {
      const frame = await this.next(timeoutMs);
      if (pattern.test(frame)) return frame;
    }
  }
}
