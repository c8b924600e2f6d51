/**
 * Two engines whose certificates both sides trust (one CA): SASL EXTERNAL in both directions (XEP-0178), stanzas
 * both ways exactly as sent, a stream reused, stanzas queued while a stream is set up and delivered in order,
 * idle streams closed and reopened, reconnection with back-off after the peer went away and came back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '../../src/index.js';
import {
  SECRET_A,
  SECRET_B,
  TestCa,
  logged,
  startEngine,
  until,
  type Engine,
  type RouteTable,
  type Tls,
} from './helpers.js';

let ca: TestCa;
let tlsA: Tls;
let tlsB: Tls;
let tlsC: Tls;
let a: Engine;
let b: Engine;
const table: RouteTable = {};

beforeAll(async () => {
  ca = await TestCa.create();
  [tlsA, tlsB, tlsC] = await Promise.all([ca.issue('a.test'), ca.issue('b.test'), ca.issue('c.test')]);
  a = await startEngine({
    domain: 'a.test',
    tls: tlsA,
    ca: ca.cert,
    secret: SECRET_A,
    table,
    limits: { reconnectBaseMs: 300, outgoingIdleMs: 60_000 },
  });
  b = await startEngine({ domain: 'b.test', tls: tlsB, ca: ca.cert, secret: SECRET_B, table });
});

afterAll(async () => {
  await a?.server.close();
  await b?.server.close();
  await ca?.remove();
});

const message = (from: string, to: string, id: string, body: string) =>
  xml('message', { from, to, id, type: 'chat' }, xml('body', {}, body));

describe('SASL EXTERNAL between trusted servers', () => {
  it('delivers a stanza from a.test to b.test exactly as sent', async () => {
    a.server.send(message('alice@a.test/phone', 'bob@b.test', 'm1', 'hello <b> & "you"'));
    await until(() => b.router.received.length === 1, 'the message at b.test');
    expect(b.router.received).toEqual([
      "<message from='alice@a.test/phone' to='bob@b.test' id='m1' type='chat'>" +
        '<body>hello &lt;b&gt; &amp; "you"</body></message>',
    ]);
    expect(logged(a.lines, 's2s outgoing stream authenticated')).toEqual([
      { local: 'a.test', remote: 'b.test', method: 'sasl-external' },
    ]);
    expect(logged(b.lines, 's2s incoming stream authenticated')).toEqual([
      expect.objectContaining({ local: 'b.test', remote: 'a.test', method: 'sasl-external' }),
    ]);
    expect(a.router.bounces).toEqual([]);
  });

  it('delivers the other way over b.test’s own outgoing stream', async () => {
    b.server.send(xml('presence', { from: 'bob@b.test/pc', to: 'alice@a.test' }));
    b.server.send(
      xml(
        'iq',
        { from: 'bob@b.test/pc', to: 'alice@a.test/phone', id: 'q1', type: 'get' },
        xml('ping', { xmlns: 'urn:xmpp:ping' }),
      ),
    );
    await until(() => a.router.received.length === 2, 'presence and iq at a.test');
    expect(a.router.received).toEqual([
      "<presence from='bob@b.test/pc' to='alice@a.test'/>",
      "<iq from='bob@b.test/pc' to='alice@a.test/phone' id='q1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
    ]);
    expect(logged(b.lines, 's2s outgoing stream authenticated')).toEqual([
      { local: 'b.test', remote: 'a.test', method: 'sasl-external' },
    ]);
  });

  it('reuses the authenticated stream for later stanzas', async () => {
    for (let i = 2; i <= 5; i++) a.server.send(message('alice@a.test/phone', 'bob@b.test', `m${i}`, `n${i}`));
    await until(() => b.router.received.length === 5, 'four more messages');
    expect(b.router.received.slice(1).map((s) => /id='(m\d)'/.exec(s)?.[1])).toEqual([
      'm2',
      'm3',
      'm4',
      'm5',
    ]);
    expect(logged(a.lines, 's2s outgoing stream authenticated')).toHaveLength(1);
    expect(logged(b.lines, 's2s incoming stream authenticated')).toHaveLength(1);
  });
});

describe('stanzas built for a client stream', () => {
  it('lose their jabber:client declaration and arrive in jabber:server', async () => {
    const before = b.router.received.length;
    a.server.send(
      xml(
        'message',
        { xmlns: 'jabber:client', from: 'alice@a.test', to: 'bob@b.test', id: 'ns1' },
        xml('body', {}, 'x'),
      ),
    );
    await until(() => b.router.received.length === before + 1, 'the message');
    expect(b.router.received.at(-1)).toBe(
      "<message from='alice@a.test' to='bob@b.test' id='ns1'><body>x</body></message>",
    );
  });
});

describe('queueing, idle streams and reconnection', () => {
  let c: Engine;
  let cPort: number;

  it('queues stanzas sent before the stream exists and delivers all of them in order', async () => {
    c = await startEngine({
      domain: 'c.test',
      tls: tlsC,
      ca: ca.cert,
      secret: 'secret of c.test 0123456789',
      table,
    });
    cPort = c.port;
    const sent: string[] = [];
    for (let i = 0; i < 500; i++) {
      const stanza = message('alice@a.test/phone', 'carol@c.test', `q${i}`, `number ${i}`);
      sent.push(stanza.toString());
      a.server.send(stanza);
    }
    await until(() => c.router.received.length === 500, '500 queued messages at c.test');
    expect(c.router.received).toEqual(sent);
    expect(
      logged(a.lines, 's2s outgoing stream authenticated').filter((l) => l.remote === 'c.test'),
    ).toHaveLength(1);
    expect(a.router.bounces).toEqual([]);
  });

  it('after the peer restarts, connects again (with back-off after a refused attempt) and delivers', async () => {
    await c.server.close();
    // The peer's system-shutdown ends our outgoing stream; with it down, a stanza is refused at once.
    const down = message('alice@a.test/phone', 'carol@c.test', 'down', 'while down');
    const sentAt = Date.now();
    a.server.send(down);
    await until(() => a.router.bounces.length === 1, 'the bounce while c.test is down');
    expect(a.router.bounces[0]).toMatchObject({
      stanza: down.toString(),
      condition: 'remote-server-not-found',
    });
    expect(a.router.bounces[0]!.at - sentAt).toBeLessThan(1_000);

    c = await startEngine({
      domain: 'c.test',
      tls: tlsC,
      ca: ca.cert,
      secret: 'secret of c.test 0123456789',
      table,
      port: cPort,
    });
    // Within the back-off (300 ms after the refused attempt) the stanza waits, then goes out on the retry.
    const again = message('alice@a.test/phone', 'carol@c.test', 'up', 'back again');
    a.server.send(again);
    await until(() => c.router.received.length === 1, 'the message after the restart');
    expect(c.router.received).toEqual([again.toString()]);
    expect(a.router.bounces).toHaveLength(1);
    expect(logged(a.lines, 's2s route unavailable')).toEqual([
      { local: 'a.test', remote: 'c.test', failure: 'not-found' },
    ]);
    await c.server.close();
  });
});

describe('idle outgoing streams', () => {
  it('are closed after the idle time and opened again when needed', async () => {
    const d = await startEngine({
      domain: 'd.test',
      tls: await ca.issue('d.test'),
      ca: ca.cert,
      secret: 'secret of d.test 0123456789',
      table,
      limits: { outgoingIdleMs: 200 },
    });
    try {
      d.server.send(message('dave@d.test', 'bob@b.test', 'i1', 'one'));
      await until(() => logged(d.lines, 's2s outgoing stream idle: closed').length === 1, 'the idle close');
      d.server.send(message('dave@d.test', 'bob@b.test', 'i2', 'two'));
      await until(
        () => b.router.received.filter((s) => s.includes("from='dave@d.test'")).length === 2,
        'both at b.test',
      );
      expect(logged(d.lines, 's2s outgoing stream authenticated')).toHaveLength(2);
      expect(d.router.bounces).toEqual([]);
    } finally {
      await d.server.close();
    }
  });
});
