/**
 * GET requests from one service to another's operator endpoints (`/readyz`, `/metrics`, the admin API): HTTPS with
 * the IRSP's CA, a bound on the whole request and on the body, and every failure an answer rather than a throw, so a
 * page of many services shows the one that is down instead of failing as a whole.
 */
import { createSecureContext } from 'node:tls';
import { Agent, request } from 'undici';

export type ProbeAnswer = { ok: true; status: number; body: string } | { ok: false; reason: string };

export class Probe {
  private readonly agent: Agent;

  constructor(
    ca: string,
    private readonly timeoutMs = 3_000,
  ) {
    this.agent = new Agent({
      connect: { secureContext: createSecureContext({ ca, minVersion: 'TLSv1.2' }), timeout: timeoutMs },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      // A Prometheus exposition of a service is a few tens of KB.
      maxResponseSize: 4 * 1024 * 1024,
    });
  }

  async get(url: string, headers: Record<string, string> = {}): Promise<ProbeAnswer> {
    try {
      const r = await request(url, {
        dispatcher: this.agent,
        headers,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      return { ok: true, status: r.statusCode, body: await r.body.text() };
    } catch (error) {
      const e = error as { code?: string; message?: string; cause?: { code?: string } };
      return { ok: false, reason: e.cause?.code ?? e.code ?? e.message ?? 'unreachable' };
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
