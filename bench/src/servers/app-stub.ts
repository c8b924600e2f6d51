/**
 * The application server our message server delivers Messages 8–11 to, played by the load generator so that
 * `notify` can make it slow or take it down: it counts what arrives and answers 200 (empty body, clause 8.3).
 */
import { createServer, type Server } from 'node:https';

export interface Received {
  at: number;
  path: string;
  body: string;
  /** The outbox's delivery mark (IRSP-Delivery-Id and -Attempt), null without one. */
  mark: { id: string; attempt: number } | null;
}

export class AppStub {
  /** Extra answer delay (the "slow application server" of `notify`). */
  delayMs = 0;
  received: Received[] = [];
  onReceive: () => void = () => {};
  private server: Server | undefined;

  constructor(
    readonly port: number,
    private readonly tls: { cert: string; key: string },
  ) {}

  async start(): Promise<void> {
    const server = createServer({ ...this.tls, keepAliveTimeout: 30_000 }, (request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        const answer = () => {
          const id = request.headers['irsp-delivery-id'];
          const attempt = Number(request.headers['irsp-delivery-attempt']);
          const mark = typeof id === 'string' && Number.isInteger(attempt) ? { id, attempt } : null;
          this.received.push({ at: performance.now(), path: request.url ?? '', body, mark });
          response.writeHead(200).end();
          this.onReceive();
        };
        if (this.delayMs > 0) setTimeout(answer, this.delayMs);
        else answer();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.server = server;
  }

  /** Down: the port refuses connections until `start` again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves once `count` notifications have arrived since `since` (index into `received`). */
  waitFor(count: number, since: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.received.length - since >= count) {
          clearTimeout(timer);
          this.onReceive = () => {};
          resolve(true);
        }
      };
      const timer = setTimeout(() => {
        this.onReceive = () => {};
        resolve(false);
      }, timeoutMs);
      this.onReceive = check;
      check();
    });
  }
}
