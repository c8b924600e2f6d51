/**
 * OperationClient against real HTTPS servers: the IRSP's CA is the only trust anchor and TLS 1.2 the floor, on
 * every connection of the client (they share one TLS context).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { RequestListener } from 'node:http';
import { createServer, type Server, type ServerOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureServerCert, type TlsMaterial } from '@irsp/config';
import { errorBody, message10 } from '@irsp/protocol';
import { OperationClient } from '../src/client.js';

const params = {
  deviceid: '#lock1',
  type: 'online' as const,
  appid: 'smartlock',
  token: 'smartlock-token-0123456789',
};
const SANS = { dns: ['localhost'], ip: ['127.0.0.1'] };
let dirs: string[] = [];
let ours: TlsMaterial;
let foreign: TlsMaterial;
const servers: Server[] = [];

beforeAll(async () => {
  dirs = [await mkdtemp(join(tmpdir(), 'irsp-client-')), await mkdtemp(join(tmpdir(), 'irsp-client-'))];
  ours = await ensureServerCert(dirs[0]!, 'app', SANS);
  foreign = await ensureServerCert(dirs[1]!, 'app', SANS);
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/**
 * An application server answering 200 (or as `answer` says); records each request as `METHOD url body`, counts TLS
 * connections and records failed handshakes.
 */
async function serve(
  options: ServerOptions,
  answer: RequestListener = (_request, response) => response.writeHead(200).end(),
) {
  const seen = { connections: 0, requests: [] as string[], lines: [] as string[], tlsErrors: [] as string[] };
  const server = createServer(options, (request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      seen.requests.push(body);
      seen.lines.push(`${request.method} ${request.url} ${body}`);
      answer(request, response);
    });
  });
  server.on('secureConnection', () => seen.connections++);
  server.on('tlsClientError', (error) => seen.tlsErrors.push(error.message));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { seen, url: `https://localhost:${(server.address() as { port: number }).port}` };
}

describe('OperationClient', () => {
  it('sends over several connections to a server signed by the IRSP CA', async () => {
    const { seen, url } = await serve({ cert: ours.cert, key: ours.key });
    const client = new OperationClient({ ca: ours.ca });
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, () => client.send(message10, url, params, { serviceUri: '/status' })),
    );
    await client.close();
    expect(outcomes).toEqual(Array.from({ length: 8 }, () => ({ kind: 'status', status: 200 })));
    expect(seen.requests).toHaveLength(8);
    expect(seen.requests[0]).toContain('deviceid=%23lock1');
    expect(seen.connections).toBeGreaterThan(1);
  });

  it('refuses a server whose certificate another CA signed', async () => {
    const { seen, url } = await serve({ cert: foreign.cert, key: foreign.key });
    const client = new OperationClient({ ca: ours.ca });
    const outcome = await client.send(message10, url, params, { serviceUri: '/status' });
    await client.close();
    expect(outcome).toEqual({ kind: 'unreachable', reason: expect.stringMatching(/certificate/i) });
    expect(seen.requests).toEqual([]);
  });

  it('refuses TLS below 1.2', async () => {
    const { seen, url } = await serve({
      cert: ours.cert,
      key: ours.key,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    const client = new OperationClient({ ca: ours.ca });
    const outcome = await client.send(message10, url, params, { serviceUri: '/status' });
    await client.close();
    expect(outcome.kind).toBe('unreachable');
    expect(seen.requests).toEqual([]);
    expect(seen.tlsErrors.join(' ')).toMatch(/unsupported protocol/i);
  });

  it('posts the form to the service URI and reads a Table 5 error body', async () => {
    const { seen, url } = await serve({ cert: ours.cert, key: ours.key }, (_request, response) =>
      response.writeHead(400, { 'content-type': 'application/xml' }).end(errorBody(400)),
    );
    const client = new OperationClient({ ca: ours.ca });
    const outcome = await client.send(message10, `${url}/base/`, params, { serviceUri: '/status' });
    await client.close();
    expect(outcome).toEqual({ kind: 'status', status: 400, detail: 'bad request' });
    expect(seen.lines).toEqual([
      'POST /base/status deviceid=%23lock1&type=online&appid=smartlock&token=smartlock-token-0123456789',
    ]);
  });

  it('sends a GET with the parameters in the query string when configured so', async () => {
    const { seen, url } = await serve({ cert: ours.cert, key: ours.key });
    const client = new OperationClient({ ca: ours.ca, method: 'GET' });
    const outcome = await client.send(message10, url, params, { serviceUri: '/status' });
    await client.close();
    expect(outcome).toEqual({ kind: 'status', status: 200 });
    expect(seen.lines).toEqual([
      'GET /status?deviceid=%23lock1&type=online&appid=smartlock&token=smartlock-token-0123456789 ',
    ]);
  });

  it('gives up on a receiver that does not answer within the request timeout', async () => {
    const { seen, url } = await serve({ cert: ours.cert, key: ours.key }, () => {
      /* never answers */
    });
    const client = new OperationClient({ ca: ours.ca, requestTimeoutMs: 300 });
    const started = performance.now();
    const outcome = await client.send(message10, url, params, { serviceUri: '/status' });
    const elapsed = performance.now() - started;
    await client.close().catch(() => undefined);
    expect(outcome).toEqual({ kind: 'unreachable', reason: 'no answer within 300 ms' });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(3000);
    expect(seen.requests).toHaveLength(1);
  });

  it('times out a request still waiting for a connection to a busy receiver', async () => {
    const { seen, url } = await serve({ cert: ours.cert, key: ours.key }, () => {
      /* never answers */
    });
    const client = new OperationClient({ ca: ours.ca, requestTimeoutMs: 300, connectionsPerOrigin: 1 });
    const outcomes = await Promise.all([
      client.send(message10, url, params, { serviceUri: '/status' }),
      client.send(message10, url, params, { serviceUri: '/status' }),
    ]);
    await client.close().catch(() => undefined);
    expect(outcomes).toEqual([
      { kind: 'unreachable', reason: 'no answer within 300 ms' },
      { kind: 'unreachable', reason: 'no answer within 300 ms' },
    ]);
    expect(seen.requests).toHaveLength(1);
  });

  it('refuses an answer larger than 64 KiB', async () => {
    const { url } = await serve({ cert: ours.cert, key: ours.key }, (_request, response) =>
      response.writeHead(200).end('x'.repeat(100_000)),
    );
    const client = new OperationClient({ ca: ours.ca });
    const outcome = await client.send(message10, url, params, { serviceUri: '/status' });
    await client.close();
    expect(outcome).toEqual({ kind: 'unreachable', reason: expect.stringMatching(/max size|larger than/) });
  });

  it('reports a refused connection and a missing service URI as unreachable', async () => {
    const { url } = await serve({ cert: ours.cert, key: ours.key });
    const server = servers.pop()!;
    await new Promise((resolve) => server.close(resolve));
    const client = new OperationClient({ ca: ours.ca });
    expect(await client.send(message10, url, params, { serviceUri: '/status' })).toEqual({
      kind: 'unreachable',
      reason: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(await client.send(message10, url, params)).toEqual({
      kind: 'unreachable',
      reason: 'deviceOnline needs a configured service URI',
    });
    await client.close();
  });
});
