/**
 * The operator's side of the default application of an application server: `POST /send` (Messages 12–15 on
 * request) and `GET /received` (what arrived), both with HTTP Basic authentication by its appid and token.
 */
import { request } from 'undici';
import type { ApplicationServerConfig } from '@irsp/config';
import type { TestClient } from './irsp.js';

export interface Received {
  message: number;
  operation: string;
  params: Record<string, string>;
  /** The sender's delivery mark (IRSP-Delivery-Id/-Attempt), null when it sent none. */
  delivery: { id: string; attempt: number } | null;
}

export const basicOf = (server: ApplicationServerConfig): string =>
  `Basic ${Buffer.from(`${server.credentials.appid}:${server.credentials.token}`).toString('base64')}`;

export class DefaultApplication {
  constructor(private readonly http: TestClient) {}

  /** `POST /send` as `server`'s operator, or with another Authorization header. */
  async send(
    server: ApplicationServerConfig,
    body: object,
    authorization = basicOf(server),
  ): Promise<{ status: number; body: string }> {
    const { status, body: text } = await this.sendRaw(
      server,
      JSON.stringify(body),
      'application/json',
      authorization,
    );
    return { status, body: text };
  }

  /** `POST /send` with any body, and the headers of the answer that tests look at. */
  async sendRaw(
    server: ApplicationServerConfig,
    body: string,
    contentType: string,
    authorization = basicOf(server),
  ): Promise<{ status: number; body: string; contentType: unknown; reason: unknown; authenticate: unknown }> {
    const r = await request(`${server.url}/send`, {
      method: 'POST',
      dispatcher: this.http.agent,
      headers: { authorization, 'content-type': contentType },
      body,
    });
    return {
      status: r.statusCode,
      body: await r.body.text(),
      contentType: r.headers['content-type'],
      reason: r.headers['irsp-reason'],
      authenticate: r.headers['www-authenticate'],
    };
  }

  /** What `server` has received, in order; throws unless it answers 200. */
  async received(server: ApplicationServerConfig): Promise<Received[]> {
    const r = await request(`${server.url}/received`, {
      dispatcher: this.http.agent,
      headers: { authorization: basicOf(server) },
    });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`GET /received: ${r.statusCode} ${text}`);
    return (JSON.parse(text) as { received: Received[] }).received;
  }

  /** What `server` has received as `[message, params]` pairs. */
  async receivedPairs(server: ApplicationServerConfig): Promise<[number, Record<string, string>][]> {
    return (await this.received(server)).map((m) => [m.message, m.params]);
  }
}
