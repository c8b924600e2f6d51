/**
 * Requests of the command: HTTPS trusting the manifest's CA, JSON answers checked with the protocol's schemas, and
 * every failure turned into an exit status (exit.ts) with a sentence for the person.
 */
import { Agent, request } from 'undici';
import type { z } from 'zod';
import { REASON_HEADER } from '@irsp/http';
import { CliError, EXIT } from './exit.js';
import type { Progress } from './progress.js';

export interface Answer {
  status: number;
  body: string;
  reason: string | undefined;
}

export class Http {
  private readonly agent: Agent;

  constructor(
    ca: string,
    private readonly progress: Progress,
  ) {
    this.agent = new Agent({ connect: { ca, timeout: 5_000 }, headersTimeout: 15_000, bodyTimeout: 15_000 });
  }

  /** One request; a server that cannot be reached ends the command (EXIT.unreachable). */
  async send(
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    options: { authorization?: string | undefined; json?: unknown } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (options.authorization) headers['authorization'] = options.authorization;
    if (options.json !== undefined) headers['content-type'] = 'application/json';
    const done = this.progress.waiting(`${method} ${url}`);
    try {
      const r = await request(url, {
        method,
        headers,
        dispatcher: this.agent,
        ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
      });
      const reason = r.headers[REASON_HEADER];
      return {
        status: r.statusCode,
        body: await r.body.text(),
        reason: typeof reason === 'string' ? reason : undefined,
      };
    } catch (error) {
      throw new CliError(EXIT.unreachable, `${new URL(url).origin} unreachable: ${describe(error)}`);
    } finally {
      done();
    }
  }

  /** A JSON answer of the given shape; a 401 or another refusal ends the command with its reason. */
  async json<S extends z.ZodType>(
    schema: S,
    method: 'GET' | 'DELETE',
    url: string,
    authorization?: string,
  ): Promise<z.output<S>> {
    const answer = await this.send(method, url, { authorization });
    refuseUnlessOk(answer, url);
    return parseJson(schema, answer.body, url);
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export function refuseUnlessOk(answer: Answer, url: string): void {
  if (answer.status === 200) return;
  const why = answer.reason ?? `status ${answer.status}`;
  if (answer.status === 401)
    throw new CliError(EXIT.unauthorized, `${new URL(url).origin} refused the credentials: ${why}`);
  throw new CliError(EXIT.failed, `${answer.status}: ${why}`);
}

export function parseJson<S extends z.ZodType>(schema: S, body: string, url: string): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new CliError(EXIT.failed, `${url} answered something that is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new CliError(EXIT.failed, `${url} answered JSON of an unexpected shape`);
  return parsed.data;
}

function describe(error: unknown): string {
  const e = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(error);
}
