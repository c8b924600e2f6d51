/** The signed sender (Messages 14–15 across ASs, webhooks) against a real HTTPS server, and the address allow-list. */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLocalCa, ensureServerCert } from '@irsp/config';
import {
  SIGNATURE_HEADER,
  message15AcrossAs,
  parseAnyForm,
  signatureMatches,
  type Params,
} from '@irsp/protocol';
import { addressAllowList } from '../src/applications/gateway/addresses.js';
import { SignedClient } from '../src/signed-client.js';

const KEY = 'a-key-shared-by-two-peers-0123456789';
let dir: string;
let server: Server;
let base: string;
let ca: string;
const seen: { method: string; url: string; signature: unknown; body: string }[] = [];
let answer = { status: 200, body: '' };
/** Per request to /hang: resolves when the sender closed it. */
const hanging: Promise<void>[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'irsp-signed-'));
  ca = (await ensureLocalCa(dir)).cert;
  const tls = await ensureServerCert(dir, 'peer', { dns: ['localhost'], ip: ['127.0.0.1'] });
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    if (req.url === '/hang') {
      // A receiver that never answers: only the sender can end the exchange.
      hanging.push(new Promise<void>((resolve) => res.on('close', () => resolve())));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method!,
        url: req.url!,
        signature: req.headers[SIGNATURE_HEADER],
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(answer.status, { 'content-type': 'application/xml; charset=utf-8' }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** What the receiver checks: the signature over the form as it arrived, then the parameters. */
function check(request: (typeof seen)[number]) {
  const q = request.url.indexOf('?');
  const payload = request.method === 'GET' ? request.url.slice(q + 1) : request.body;
  const parsed = parseAnyForm([message15AcrossAs], payload);
  if (!parsed.ok) throw new Error(parsed.reason);
  const params = parsed.params as Params<typeof message15AcrossAs>;
  const path = q === -1 ? request.url : request.url.slice(0, q);
  const parts = { method: request.method, path, timestamp: params.timestamp, nonce: params.nonce, payload };
  return { params, valid: signatureMatches(KEY, parts, request.signature) };
}

describe('SignedClient', () => {
  const params = { deviceid: '#lock', data: "it's (5) ~ *fine*", appid: 'default-as1', as: 'as1.irsp.test' };

  it.each(['POST', 'GET'] as const)('signs Message 15 sent by %s as it goes on the wire', async (method) => {
    const client = new SignedClient({ ca, method });
    answer = { status: 200, body: '' };
    expect(await client.sendOperation(message15AcrossAs, base, '/peer/exchange', params, KEY)).toEqual({
      kind: 'status',
      status: 200,
    });
    const request = seen.at(-1)!;
    expect(request.method).toBe(method);
    const { params: received, valid } = check(request);
    expect(valid).toBe(true);
    expect(received).toMatchObject(params);
    client.close();
  });

  it("reads the receiver's answer, and reports no answer as unreachable", async () => {
    const client = new SignedClient({ ca });
    answer = { status: 403, body: '<error><code>403</code><detail>forbidden</detail></error>' };
    expect(await client.sendOperation(message15AcrossAs, base, '/peer/exchange', params, KEY)).toEqual({
      kind: 'status',
      status: 403,
      detail: 'forbidden',
    });
    const refused = await client.sendOperation(message15AcrossAs, 'https://127.0.0.1:1', '/x', params, KEY);
    expect(refused.kind).toBe('unreachable');
    const untrusted = await new SignedClient({ ca: '' }).sendOperation(
      message15AcrossAs,
      base,
      '/x',
      params,
      KEY,
    );
    expect(untrusted.kind).toBe('unreachable');
    client.close();
  });

  it('posts JSON signed with the timestamp and nonce it carries', async () => {
    const client = new SignedClient({ ca });
    answer = { status: 204, body: '' };
    const signed = { timestamp: 1_700_000_000, nonce: 'n0nce-0123456789ab' };
    const body = JSON.stringify({ message: 9, ...signed });
    expect(await client.postJson(`${base}/hooks/irsp`, body, signed, KEY)).toEqual({
      kind: 'answered',
      status: 204,
    });
    const request = seen.at(-1)!;
    expect(request.body).toBe(body);
    const parts = { method: 'POST', path: '/hooks/irsp', ...signed, payload: body };
    expect(signatureMatches(KEY, parts, request.signature)).toBe(true);
    client.close();
  });

  it('ends a webhook post its caller abandoned (the outbox gave up on it) before the request timeout', async () => {
    const client = new SignedClient({ ca, requestTimeoutMs: 60_000 });
    const abandoned = new AbortController();
    const signed = { timestamp: 1_700_000_000, nonce: 'n0nce-0123456789ab' };
    const post = client.postJson(`${base}/hang`, '{}', signed, KEY, abandoned.signal);
    await expect.poll(() => hanging.length).toBe(1);
    abandoned.abort(new Error('no answer within 200 ms'));
    expect((await post).kind).toBe('unreachable');
    await hanging[0];
    client.close();
  });
});

describe('addressAllowList', () => {
  it('matches addresses and CIDRs of both families, IPv4-mapped IPv6 as IPv4', () => {
    const allows = addressAllowList(['127.0.0.1', '10.0.0.0/8', 'fd00::/8', '::1']);
    for (const address of ['127.0.0.1', '::ffff:127.0.0.1', '10.255.0.1', 'fd12::1', '::1'])
      expect(allows(address)).toBe(true);
    for (const address of ['127.0.0.2', '11.0.0.1', 'fe80::1', '::2', 'localhost', ''])
      expect(allows(address)).toBe(false);
  });
});
