/**
 * Stanzas that cannot be delivered come back through `router.bounced()` (RFC 6120 §8.3.3.15/16): at once with
 * remote-server-not-found when the connection is refused or there is no route, with remote-server-timeout after
 * the bounce timeout when the peer accepts the connection and then never answers; on close() for what still waits.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '../../src/index.js';
import { freePorts } from '../../../../test/support/irsp.js';
import { SECRET_A, TestCa, startEngine, until, type Engine, type RouteTable } from './helpers.js';

const BOUNCE_MS = 600;

let ca: TestCa;
let a: Engine;
let silent: Server;
const held: Socket[] = [];
const table: RouteTable = {};

beforeAll(async () => {
  ca = await TestCa.create();
  a = await startEngine({
    domain: 'a.test',
    tls: await ca.issue('a.test'),
    ca: ca.cert,
    secret: SECRET_A,
    table,
    limits: { bounceTimeoutMs: BOUNCE_MS, negotiationTimeoutMs: 10_000 },
  });
  const [refusedPort] = await freePorts(1);
  table['refused.test'] = { host: '127.0.0.1', port: refusedPort! };
  // Accepts connections and never says a word.
  silent = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  table['silent.test'] = { host: '127.0.0.1', port: (silent.address() as { port: number }).port };
});

afterAll(async () => {
  await a?.server.close();
  for (const socket of held) socket.destroy();
  await new Promise((resolve) => silent?.close(resolve));
  await ca?.remove();
});

const message = (to: string, id: string, from = 'alice@a.test/r') =>
  xml('message', { from, to, id }, xml('body', {}, id));

describe('bounces', () => {
  it('remote-server-not-found at once for a refused connection', async () => {
    const stanza = message('bob@refused.test', 'r1');
    const sentAt = Date.now();
    a.server.send(stanza);
    await until(() => a.router.bounces.length === 1, 'the bounce');
    expect(a.router.bounces.map(({ stanza, condition }) => ({ stanza, condition }))).toEqual([
      { stanza: stanza.toString(), condition: 'remote-server-not-found' },
    ]);
    expect(a.router.bounces[0]!.at - sentAt).toBeLessThan(BOUNCE_MS);
    a.router.bounces.length = 0;
  });

  it('remote-server-not-found at once for a domain without any address', async () => {
    const stanza = message('bob@unknown.test', 'u1');
    a.server.send(stanza);
    await until(() => a.router.bounces.length === 1, 'the bounce');
    expect(a.router.bounces[0]).toMatchObject({
      stanza: stanza.toString(),
      condition: 'remote-server-not-found',
    });
    a.router.bounces.length = 0;
  });

  it('remote-server-not-found for a stanza to our own domain or from a domain that is not ours', () => {
    const own = message('bob@a.test', 'o1');
    const foreign = message('bob@b.test', 'f1', 'eve@elsewhere.test');
    const noTo = xml('message', { from: 'alice@a.test' });
    a.server.send(own);
    a.server.send(foreign);
    a.server.send(noTo);
    expect(a.router.bounces.map(({ stanza, condition }) => ({ stanza, condition }))).toEqual([
      { stanza: own.toString(), condition: 'remote-server-not-found' },
      { stanza: foreign.toString(), condition: 'remote-server-not-found' },
      { stanza: noTo.toString(), condition: 'remote-server-not-found' },
    ]);
    a.router.bounces.length = 0;
  });

  it(`remote-server-timeout after ${BOUNCE_MS} ms for a server that accepts and never answers`, async () => {
    const first = message('bob@silent.test', 's1');
    const second = message('bob@silent.test', 's2');
    const sentAt = Date.now();
    a.server.send(first);
    a.server.send(second);
    await new Promise((r) => setTimeout(r, BOUNCE_MS - 100));
    expect(a.router.bounces).toEqual([]);
    await until(() => a.router.bounces.length === 2, 'both bounces', 3_000);
    expect(a.router.bounces.map(({ stanza, condition }) => ({ stanza, condition }))).toEqual([
      { stanza: first.toString(), condition: 'remote-server-timeout' },
      { stanza: second.toString(), condition: 'remote-server-timeout' },
    ]);
    expect(a.router.bounces[0]!.at - sentAt).toBeGreaterThanOrEqual(BOUNCE_MS);
    expect(held).toHaveLength(1);
    a.router.bounces.length = 0;
  });

  it('close() bounces what is still waiting', async () => {
    const waiting = message('bob@silent.test', 'w1');
    a.server.send(waiting);
    await a.server.close();
    expect(a.router.bounces.map(({ stanza, condition }) => ({ stanza, condition }))).toEqual([
      { stanza: waiting.toString(), condition: 'remote-server-timeout' },
    ]);
    const after = message('bob@silent.test', 'w2');
    a.server.send(after);
    expect(a.router.bounces.at(-1)).toMatchObject({
      stanza: after.toString(),
      condition: 'remote-server-not-found',
    });
  });
});
