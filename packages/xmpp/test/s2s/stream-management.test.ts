/**
 * XEP-0198 between two engines: the outgoing stream enables stream management (the incoming side offers it), the
 * unacknowledged stanzas bound what is in flight, and a full socket or too many unacknowledged stanzas hold
 * stanzas in the route's queue — each written exactly once, in order, or bounced when it waits too long.
 */
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { xml, type S2sLimits } from '../../src/index.js';
import { SECRET_A, SECRET_B, TestCa, startEngine, until, type Engine, type RouteTable } from './helpers.js';

let ca: TestCa;
const engines: Engine[] = [];

beforeAll(async () => {
  ca = await TestCa.create();
});

afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.server.close();
});

afterAll(async () => {
  await ca?.remove();
});

async function pair(limits: Partial<S2sLimits>): Promise<{ a: Engine; b: Engine }> {
  const table: RouteTable = {};
  const a = await startEngine({
    domain: 'a.test',
    tls: await ca.issue('a.test'),
    ca: ca.cert,
    secret: SECRET_A,
    table,
    limits,
  });
  const b = await startEngine({
    domain: 'b.test',
    tls: await ca.issue('b.test'),
    ca: ca.cert,
    secret: SECRET_B,
    table,
  });
  engines.push(a, b);
  return { a, b };
}

const message = (id: string) =>
  xml('message', { from: 'alice@a.test/x', to: 'bob@b.test', id }, xml('body', {}, id));
const received = (id: string) =>
  `<message from='alice@a.test/x' to='bob@b.test' id='${id}'><body>${id}</body></message>`;

describe('stream management on s2s (XEP-0198)', () => {
  it('a stanza written to a full socket is not queued and written again', async () => {
    // Each stanza is above the socket's high-water mark (16 KiB) and the limit: every write fills the socket.
    const { a, b } = await pair({ maxBufferedBytes: 20_000 });
    const big = (id: string) =>
      xml('message', { from: 'alice@a.test/x', to: 'bob@b.test', id }, xml('body', {}, 'x'.repeat(30_000)));
    a.server.send(message('m0'));
    await until(() => b.router.received.length === 1, 'the first message');
    for (const id of ['m1', 'm2', 'm3']) a.server.send(big(id));
    await until(() => b.router.received.length >= 4, 'the other messages');
    await new Promise((r) => setTimeout(r, 300));
    expect(b.router.received.map((s) => /id='(m[0-9])'/.exec(s)![1])).toEqual(['m0', 'm1', 'm2', 'm3']);
  });

  it('at most maxUnackedStanzas are in flight; the rest wait in the queue (and bounce when no ack comes)', async () => {
    const { a, b } = await pair({ maxUnackedStanzas: 2, ackRequestStanzas: 1, bounceTimeoutMs: 1_000 });
    // b takes 10 s to route each stanza: nothing is acknowledged meanwhile.
    b.router.delayMs = 10_000;
    const ids = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
    for (const id of ids) a.server.send(message(id));
    await until(() => a.router.bounces.length === 4, 'the bounces', 5_000);
    expect(a.router.bounces.map((bounce) => [bounce.stanza, bounce.condition])).toEqual(
      ['m3', 'm4', 'm5', 'm6'].map((id) => [received(id), 'remote-server-timeout']),
    );
    expect(b.router.received).toEqual([received('m1')]);
  });
});
