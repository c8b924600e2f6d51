/**
 * Signed requests to parties outside the AS (docs/decisions/0006): Messages 14–15 to application servers of
 * other ASs and the gateway's JSON webhooks. As OperationClient (the IRSP's CA, TLS 1.2+, timeouts, bounded
 * answers), plus the signature header, for which OperationClient has no place. On node:https, because undici is
 * not a dependency of this service.
 */
import { Agent, request, type RequestOptions } from 'node:https';
import type { SendOutcome } from '@irsp/http';
import {
  SIGNATURE_HEADER,
  buildForm,
  buildUrl,
  interpretResponse,
  newNonce,
  nowSeconds,
  sign,
  type Operation,
  type ParamsIn,
} from '@irsp/protocol';

export interface SignedClientOptions {
  ca: string;
  requestTimeoutMs?: number;
  method?: 'POST' | 'GET';
}

export type WebhookOutcome = { kind: 'answered'; status: number } | { kind: 'unreachable'; reason: string };

const MAX_RESPONSE_BYTES = 64 * 1024;

export class SignedClient {
  private readonly agent: Agent;
  private readonly method: 'POST' | 'GET';
  private readonly requestTimeoutMs: number;

  constructor(options: SignedClientOptions) {
    this.method = options.method ?? 'POST';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.agent = new Agent({ ca: options.ca, minVersion: 'TLSv1.2', keepAlive: true, timeout: 30_000 });
  }

  /** One request; its answer read up to MAX_RESPONSE_BYTES, or the reason there was none. */
  private exchange(
    url: URL,
    options: RequestOptions,
    body: string | undefined,
    abandoned?: AbortSignal,
  ): Promise<{ status: number; body: string } | { unreachable: string }> {
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    return new Promise((resolve) => {
      const req = request(url, {
        ...options,
        agent: this.agent,
        signal: abandoned ? AbortSignal.any([timeout, abandoned]) : timeout,
      });
      req.on('error', (error) => resolve({ unreachable: error.message }));
      req.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('answer larger than 64 KiB'));
          else chunks.push(chunk);
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', (error) => resolve({ unreachable: error.message }));
      });
      req.end(body);
    });
  }

  /** A form operation with fresh `timestamp` and `nonce`, signed over the body (POST) or query string (GET). */
  async sendOperation<O extends Operation>(
    operation: O,
    baseUrl: string,
    serviceUri: string,
    params: Omit<ParamsIn<O>, 'timestamp' | 'nonce'>,
    key: string,
    extraHeaders: Record<string, string> = {},
  ): Promise<SendOutcome> {
    const timestamp = nowSeconds();
    const nonce = newNonce();
    const signed = { ...params, timestamp: String(timestamp), nonce } as ParamsIn<O>;
    const get = this.method === 'GET';
    const url = new URL(
      buildUrl(operation, baseUrl, get ? signed : ({} as ParamsIn<O>), undefined, serviceUri),
    );
    // The query as the URL serialises it is what the receiver reads, so that is what is signed.
    const payload = get ? url.search.slice(1) : buildForm(operation, signed);
    if (!get) url.search = '';
    const signature = sign(key, { method: this.method, path: url.pathname, timestamp, nonce, payload });
    const answer = await this.exchange(
      url,
      {
        method: this.method,
        headers: {
          ...extraHeaders,
          [SIGNATURE_HEADER]: signature,
          ...(get ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
        },
      },
      get ? undefined : payload,
    );
    return 'unreachable' in answer
      ? { kind: 'unreachable', reason: answer.unreachable }
      : interpretResponse(operation, answer.status, answer.body);
  }

  /** A JSON body whose `timestamp` and `nonce` the caller set, signed with them; `abandoned` cancels it. */
  async postJson(
    url: string,
    body: string,
    signed: { timestamp: number; nonce: string },
    key: string,
    abandoned?: AbortSignal,
    headers: Record<string, string> = {},
  ): Promise<WebhookOutcome> {
    const target = new URL(url);
    const signature = sign(key, { method: 'POST', path: target.pathname, ...signed, payload: body });
    const answer = await this.exchange(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', [SIGNATURE_HEADER]: signature },
      },
      body,
      abandoned,
    );
    return 'unreachable' in answer
      ? { kind: 'unreachable', reason: answer.unreachable }
      : { kind: 'answered', status: answer.status };
  }

  close(): void {
    this.agent.destroy();
  }
}
