/**
 * OperationClient against real HTTPS servers: the IRSP's CA is the only trust anchor and TLS 1.2 the floor, on
 * every connection of the client (they share one TLS context).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type ServerOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureServerCert, type TlsMaterial } from '@irsp/config';
import { message10 } from '@irsp/protocol';
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

/** An application server answering 200; counts TLS connections and records failed handshakes. */
async function serve(options: ServerOptions) {
  const seen = { connections: 0, requests: [] as string[], tlsErrors: [] as string[] };
  const server = createServer(options, (request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      seen.requests.push(body);
      response.writeHead(200).end();
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
});
