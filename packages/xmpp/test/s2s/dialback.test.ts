/**
 * Two engines that do not trust each other's certificates (two CAs): no SASL EXTERNAL offered or used, dialback
 * (XEP-0220) in both directions — each receiving server checks the key with the other's authoritative server over
 * its own outgoing stream — and stanzas both ways. What each side offers depends on the certificate it is shown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '../../src/index.js';
import {
  RawPeer,
  SECRET_A,
  SECRET_B,
  TestCa,
  logged,
  startEngine,
  until,
  type Engine,
  type RouteTable,
} from './helpers.js';

let ca1: TestCa;
let ca2: TestCa;
let a: Engine;
let b: Engine;
const table: RouteTable = {};

beforeAll(async () => {
  [ca1, ca2] = await Promise.all([TestCa.create(), TestCa.create()]);
  a = await startEngine({
    domain: 'a.test',
    tls: await ca1.issue('a.test'),
    ca: ca1.cert,
    secret: SECRET_A,
    table,
  });
  b = await startEngine({
    domain: 'b.test',
    tls: await ca2.issue('b.test'),
    ca: ca2.cert,
    secret: SECRET_B,
    table,
  });
});

afterAll(async () => {
  await a?.server.close();
  await b?.server.close();
  await ca1?.remove();
  await ca2?.remove();
});

const DIALBACK_ONLY =
  "<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback><sm xmlns='urn:xmpp:sm:3'/></stream:features>";
const EXTERNAL_AND_DIALBACK =
  "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism>" +
  "</mechanisms><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback><sm xmlns='urn:xmpp:sm:3'/></stream:features>";

describe('dialback between servers that cannot verify each other', () => {
  it('authenticates a.test to b.test by dialback and delivers', async () => {
    a.server.send(
      xml('message', { from: 'alice@a.test/x', to: 'bob@b.test', id: 'd1' }, xml('body', {}, 'hi')),
    );
    await until(() => b.router.received.length === 1, 'the message at b.test');
    expect(b.router.received).toEqual([
      "<message from='alice@a.test/x' to='bob@b.test' id='d1'><body>hi</body></message>",
    ]);
    expect(logged(a.lines, 's2s outgoing stream authenticated')).toEqual([
      { local: 'a.test', remote: 'b.test', method: 'dialback' },
    ]);
    // b.test asked a.test (authoritative) over its own outgoing stream, and a.test confirmed its key.
    expect(logged(b.lines, 's2s dialback result checked')).toEqual([
      expect.objectContaining({ local: 'b.test', remote: 'a.test', verdict: 'valid' }),
    ]);
    expect(logged(a.lines, 's2s dialback key verified for the peer')).toEqual([
      expect.objectContaining({ local: 'a.test', remote: 'b.test', verdict: 'valid' }),
    ]);
    expect(logged(b.lines, 's2s incoming stream authenticated')).toEqual([
      expect.objectContaining({ local: 'b.test', remote: 'a.test', method: 'dialback' }),
    ]);
  });

  it('authenticates b.test to a.test by dialback the other way and delivers', async () => {
    b.server.send(
      xml('message', { from: 'bob@b.test', to: 'alice@a.test/x', id: 'd2' }, xml('body', {}, 'hi back')),
    );
    await until(() => a.router.received.length === 1, 'the message at a.test');
    expect(a.router.received).toEqual([
      "<message from='bob@b.test' to='alice@a.test/x' id='d2'><body>hi back</body></message>",
    ]);
    expect(logged(b.lines, 's2s outgoing stream authenticated')).toEqual([
      { local: 'b.test', remote: 'a.test', method: 'dialback' },
    ]);
    expect(logged(a.lines, 's2s dialback result checked')).toEqual([
      expect.objectContaining({ local: 'a.test', remote: 'b.test', verdict: 'valid' }),
    ]);
    expect(a.router.bounces).toEqual([]);
    expect(b.router.bounces).toEqual([]);
  });
});

describe('stream features after STARTTLS', () => {
  it('offer only dialback to a certificate from a CA we do not trust', async () => {
    const peer = await RawPeer.connect(a.port);
    const tls = await ca2.issue('c.test');
    const { features } = await peer.secure('c.test', 'a.test', tls);
    expect(features).toBe(DIALBACK_ONLY);
    peer.destroy();
  });

  it('offer SASL EXTERNAL to a trusted certificate for the stream’s from, not to one for another name', async () => {
    const tls = await ca1.issue('c.test');
    const good = await RawPeer.connect(a.port);
    expect((await good.secure('c.test', 'a.test', tls)).features).toBe(EXTERNAL_AND_DIALBACK);
    good.destroy();
    const other = await RawPeer.connect(a.port);
    expect((await other.secure('d.test', 'a.test', tls)).features).toBe(DIALBACK_ONLY);
    other.destroy();
    const none = await RawPeer.connect(a.port);
    expect((await none.secure('c.test', 'a.test')).features).toBe(DIALBACK_ONLY);
    none.destroy();
  });
});
