/**
 * Incoming streams driven by hand: the exact answers to stream headers, STARTTLS, SASL EXTERNAL and dialback
 * (XEP-0220 §2: `db:result` checked with the authoritative server, `db:verify` answered for our own keys), and the
 * stream error for every kind of bad input. Nothing reaches the router that was not authenticated.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialbackKey } from '../../src/index.js';
import { freePorts } from '../../../../test/support/irsp.js';
import {
  RawPeer,
  SECRET_A,
  SECRET_B,
  STREAM_NS,
  TestCa,
  logged,
  startEngine,
  streamErrorText,
  until,
  type Engine,
  type RouteTable,
  type Tls,
} from './helpers.js';

const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const MAX_STANZA = 4096;

let ca: TestCa;
let tlsC: Tls;
let a: Engine;
let b: Engine;
const table: RouteTable = {};

beforeAll(async () => {
  ca = await TestCa.create();
  const [tlsA, tlsB] = await Promise.all([ca.issue('a.test'), ca.issue('b.test')]);
  tlsC = await ca.issue('c.test');
  a = await startEngine({
    domain: 'a.test',
    tls: tlsA,
    ca: ca.cert,
    secret: SECRET_A,
    table,
    limits: { maxStanzaBytes: MAX_STANZA },
  });
  b = await startEngine({ domain: 'b.test', tls: tlsB, ca: ca.cert, secret: SECRET_B, table });
  const [closedPort] = await freePorts(1);
  table['gone.test'] = { host: '127.0.0.1', port: closedPort! };
});

afterAll(async () => {
  await a?.server.close();
  await b?.server.close();
  await ca?.remove();
});

/** The stream ends with exactly this error and the connection closes. */
async function expectStreamError(peer: RawPeer, condition: string, text?: string): Promise<string> {
  await peer.closed;
  const received = peer.take();
  expect(received.endsWith(streamErrorText(condition, text))).toBe(true);
  return received;
}

/** A peer for c.test authenticated by SASL EXTERNAL with a certificate a.test trusts. */
async function externalPeer(): Promise<RawPeer> {
  const peer = await RawPeer.connect(a.port);
  await peer.secure('c.test', 'a.test', tlsC);
  peer.write(`<auth xmlns='${SASL}' mechanism='EXTERNAL'>=</auth>`);
  expect(await peer.waitFor(/<success[^>]*\/>/)).toBe(`<success xmlns='${SASL}'/>`);
  peer.take();
  peer.header('c.test', 'a.test');
  const restart = await peer.waitFor(/<\/stream:features>/);
  expect(restart).toMatch(
    new RegExp(
      `^<\\?xml version='1.0'\\?><stream:stream ${STREAM_NS} id='[0-9a-f]{24}' from='a\\.test' to='c\\.test' ` +
        `version='1.0' xml:lang='en'><stream:features><sm xmlns='urn:xmpp:sm:3'/></stream:features>$`,
    ),
  );
  peer.take();
  return peer;
}

describe('stream header', () => {
  it('answers with our header and STARTTLS required', async () => {
    const peer = await RawPeer.connect(a.port);
    peer.header('c.test', 'a.test');
    const text = await peer.waitFor(/<\/stream:features>/);
    expect(text).toMatch(
      new RegExp(
        `^<\\?xml version='1.0'\\?><stream:stream ${STREAM_NS} id='[0-9a-f]{24}' from='a\\.test' to='c\\.test' ` +
          `version='1.0' xml:lang='en'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>` +
          '<required/></starttls></stream:features>$',
      ),
    );
    peer.destroy();
  });

  it('refuses the client namespace (invalid-namespace)', async () => {
    const peer = await RawPeer.connect(a.port);
    peer.header('c.test', 'a.test', "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'");
    await expectStreamError(peer, 'invalid-namespace');
  });

  it('refuses a domain we do not serve (host-unknown)', async () => {
    const peer = await RawPeer.connect(a.port);
    peer.header('c.test', 'nowhere.test');
    const text = await expectStreamError(peer, 'host-unknown');
    expect(text).toMatch(/from='a\.test' to='c\.test'/);
  });

  it('refuses a from that is no domain (invalid-from)', async () => {
    const peer = await RawPeer.connect(a.port);
    peer.header('c..test', 'a.test');
    await expectStreamError(peer, 'invalid-from');
  });
});

describe('before authentication', () => {
  it('requires STARTTLS before anything else (policy-violation)', async () => {
    const peer = await RawPeer.connect(a.port);
    peer.header('b.test', 'a.test');
    await peer.waitFor(/<\/stream:features>/);
    peer.write("<db:result from='b.test' to='a.test'>abc</db:result>");
    await expectStreamError(peer, 'policy-violation', 'STARTTLS is required');
  });

  it('refuses a stanza on a secured stream that is not authenticated (not-authorized)', async () => {
    const peer = await RawPeer.connect(a.port);
    await peer.secure('b.test', 'a.test');
    peer.write("<message from='bob@b.test' to='alice@a.test'><body>early</body></message>");
    await expectStreamError(peer, 'not-authorized');
    expect(a.router.received).toEqual([]);
  });
});

describe('dialback on an incoming stream (XEP-0220)', () => {
  it('a key the authoritative server does not confirm is invalid, and stanzas stay refused', async () => {
    const peer = await RawPeer.connect(a.port);
    await peer.secure('b.test', 'a.test');
    peer.write(`<db:result from='b.test' to='a.test'>${'0'.repeat(64)}</db:result>`);
    expect(await peer.waitFor(/<db:result[^>]*\/>/)).toBe(
      "<db:result from='a.test' to='b.test' type='invalid'/>",
    );
    peer.take();
    expect(logged(b.lines, 's2s dialback key verified for the peer')).toContainEqual(
      expect.objectContaining({ local: 'b.test', remote: 'a.test', verdict: 'invalid' }),
    );
    peer.write("<message from='bob@b.test' to='alice@a.test'><body>forged</body></message>");
    await expectStreamError(peer, 'not-authorized');
    expect(a.router.received).toEqual([]);
  });

  it('a key made with b.test’s secret for this stream is valid; then only b.test may be the sender', async () => {
    const peer = await RawPeer.connect(a.port);
    const { id } = await peer.secure('b.test', 'a.test');
    peer.write(
      `<db:result from='b.test' to='a.test'>${dialbackKey(SECRET_B, 'a.test', 'b.test', id)}</db:result>`,
    );
    expect(await peer.waitFor(/<db:result[^>]*\/>/)).toBe(
      "<db:result from='a.test' to='b.test' type='valid'/>",
    );
    peer.take();
    peer.write("<message from='bob@b.test/x' to='Alice@A.test'><body>real</body></message>");
    peer.write("<message from='eve@evil.test' to='alice@a.test'><body>spoofed</body></message>");
    await expectStreamError(peer, 'invalid-from');
    expect(a.router.received).toEqual([
      "<message from='bob@b.test/x' to='alice@a.test'><body>real</body></message>",
    ]);
    a.router.received.length = 0;
  });

  it('a domain whose server cannot be reached gets an error, not a verdict', async () => {
    const peer = await RawPeer.connect(a.port);
    await peer.secure('gone.test', 'a.test');
    peer.write(`<db:result from='gone.test' to='a.test'>${'1'.repeat(64)}</db:result>`);
    expect(await peer.waitFor(/<\/db:result>/)).toBe(
      "<db:result from='a.test' to='gone.test' type='error'><error type='cancel'>" +
        `<remote-server-not-found xmlns='${STANZAS}'/></error></db:result>`,
    );
    peer.destroy();
  });

  it('a result for a domain we do not serve gets item-not-found', async () => {
    const peer = await RawPeer.connect(a.port);
    await peer.secure('b.test', 'a.test');
    peer.write(`<db:result from='b.test' to='other.test'>${'2'.repeat(64)}</db:result>`);
    expect(await peer.waitFor(/<\/db:result>/)).toBe(
      "<db:result from='other.test' to='b.test' type='error'><error type='cancel'>" +
        `<item-not-found xmlns='${STANZAS}'/></error></db:result>`,
    );
    peer.destroy();
  });

  it('answers db:verify for our own keys: valid for the right one, invalid otherwise', async () => {
    const peer = await RawPeer.connect(a.port);
    await peer.secure('c.test', 'a.test');
    peer.write(
      `<db:verify from='c.test' to='a.test' id='s1'>${dialbackKey(SECRET_A, 'c.test', 'a.test', 's1')}</db:verify>`,
    );
    peer.write(
      `<db:verify from='c.test' to='a.test' id='s2'>${dialbackKey(SECRET_A, 'c.test', 'a.test', 's1')}</db:verify>`,
    );
    peer.write(
      `<db:verify from='c.test' to='a.test' id='s3'>${dialbackKey(SECRET_B, 'c.test', 'a.test', 's3')}</db:verify>`,
    );
    await peer.waitFor(/id='s3'[^>]*\/>/);
    expect(peer.take()).toBe(
      "<db:verify from='a.test' to='c.test' id='s1' type='valid'/>" +
        "<db:verify from='a.test' to='c.test' id='s2' type='invalid'/>" +
        "<db:verify from='a.test' to='c.test' id='s3' type='invalid'/>",
    );
    peer.destroy();
  });
});

describe('SASL EXTERNAL on an incoming stream (XEP-0178)', () => {
  it('refuses an authorization identity other than the certificate’s domain', async () => {
    const peer = await RawPeer.connect(a.port);
    await peer.secure('c.test', 'a.test', tlsC);
    peer.write(
      `<auth xmlns='${SASL}' mechanism='EXTERNAL'>${Buffer.from('d.test').toString('base64')}</auth>`,
    );
    expect(await peer.waitFor(/<\/failure>/)).toBe(`<failure xmlns='${SASL}'><invalid-authzid/></failure>`);
    peer.destroy();
  });

  it('refuses EXTERNAL without a certificate (invalid-mechanism)', async () => {
    const peer = await RawPeer.connect(a.port);
    await peer.secure('c.test', 'a.test');
    peer.write(`<auth xmlns='${SASL}' mechanism='EXTERNAL'>=</auth>`);
    expect(await peer.waitFor(/<\/failure>/)).toBe(`<failure xmlns='${SASL}'><invalid-mechanism/></failure>`);
    peer.destroy();
  });

  it('accepts the domain of a trusted certificate, restarts the stream and hands stanzas to the router', async () => {
    const peer = await externalPeer();
    peer.write("<presence from='carol@c.test/r' to='alice@a.test'/>");
    peer.write("<message to='alice@a.test' from='carol@c.test'><body>x</body></message>");
    peer.write("<message from='carol@c.test' to='x@nowhere.test'><body>lost</body></message>");
    await expectStreamError(peer, 'host-unknown');
    expect(a.router.received).toEqual([
      "<presence from='carol@c.test/r' to='alice@a.test'/>",
      "<message to='alice@a.test' from='carol@c.test'><body>x</body></message>",
    ]);
    a.router.received.length = 0;
  });

  it('stanzas read before the peer drops the connection are still routed, in order (nothing lost)', async () => {
    const peer = await externalPeer();
    a.router.delayMs = 30;
    try {
      for (const n of [1, 2, 3])
        peer.write(`<message to='alice@a.test' from='carol@c.test'><body>${n}</body></message>`);
      await until(() => a.router.received.length === 1, 'the first stanza');
      peer.destroy();
      await until(() => a.router.received.length === 3, 'the stanzas read before the drop');
      expect(a.router.received.map((m) => /<body>(\d)</.exec(m)![1])).toEqual(['1', '2', '3']);
    } finally {
      a.router.delayMs = 0;
      a.router.received.length = 0;
    }
  });

  it('closes the stream for a stanza without a to (improper-addressing)', async () => {
    const peer = await externalPeer();
    peer.write("<message from='carol@c.test'><body>x</body></message>");
    await expectStreamError(peer, 'improper-addressing');
  });

  it('closes the stream for an unknown element (unsupported-stanza-type)', async () => {
    const peer = await externalPeer();
    peer.write("<thing from='carol@c.test' to='alice@a.test'/>");
    await expectStreamError(peer, 'unsupported-stanza-type');
  });

  it("answers the peer's stream error (Prosody's system-shutdown) by closing, with no stream error of its own", async () => {
    const peer = await externalPeer();
    const errorsBefore = logged(a.lines, 's2s incoming stream error').length;
    peer.write(
      "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
    );
    await peer.closed;
    expect(peer.take()).toBe('</stream:stream>');
    expect(logged(a.lines, 's2s incoming stream: stream error from the peer').at(-1)).toMatchObject({
      remote: 'c.test',
      condition: 'system-shutdown',
    });
    expect(logged(a.lines, 's2s incoming stream error')).toHaveLength(errorsBefore);
  });

  it('closes the stream for malformed XML (not-well-formed)', async () => {
    const peer = await externalPeer();
    peer.write("<message from='carol@c.test' to='alice@a.test'><body>x</message>");
    await peer.closed;
    expect(peer.take()).toMatch(
      /^<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text [^>]*>[^<]+<\/text><\/stream:error><\/stream:stream>$/,
    );
    expect(a.router.received).toEqual([]);
  });

  it(`closes the stream for a stanza over ${MAX_STANZA} bytes (policy-violation)`, async () => {
    const peer = await externalPeer();
    peer.write(
      `<message from='carol@c.test' to='alice@a.test'><body>${'x'.repeat(MAX_STANZA)}</body></message>`,
    );
    await expectStreamError(peer, 'policy-violation', `stanza larger than ${MAX_STANZA} bytes`);
    expect(a.router.received).toEqual([]);
  });
});

describe('idle incoming streams', () => {
  it('are closed (without an error) after the idle time', async () => {
    const idle = await startEngine({
      domain: 'e.test',
      tls: await ca.issue('e.test'),
      ca: ca.cert,
      secret: 'secret of e.test 0123456789',
      table,
      limits: { idleTimeoutMs: 300 },
    });
    try {
      const peer = await RawPeer.connect(idle.port);
      await peer.secure('c.test', 'e.test');
      const quietFrom = Date.now();
      await peer.closed;
      expect(Date.now() - quietFrom).toBeGreaterThanOrEqual(250);
      expect(peer.take()).toBe('</stream:stream>');
    } finally {
      await idle.server.close();
    }
  });
});

describe('stream management on an incoming stream (XEP-0198)', () => {
  const SM = 'urn:xmpp:sm:3';

  it('is refused before authentication (unexpected-request), and resumption always', async () => {
    const peer = await RawPeer.connect(a.port);
    await peer.secure('b.test', 'a.test');
    peer.write(`<enable xmlns='${SM}'/>`);
    expect(await peer.waitFor(/<\/failed>/)).toBe(
      `<failed xmlns='${SM}'><unexpected-request xmlns='${STANZAS}'/></failed>`,
    );
    peer.take();
    peer.write(`<resume xmlns='${SM}' previd='x' h='0'/>`);
    expect(await peer.waitFor(/<\/failed>/)).toBe(
      `<failed xmlns='${SM}'><item-not-found xmlns='${STANZAS}'/></failed>`,
    );
    peer.destroy();
  });

  it('acknowledges each stanza once its routing has settled; enabling twice is refused', async () => {
    a.router.delayMs = 300;
    try {
      const peer = await externalPeer();
      peer.write(`<enable xmlns='${SM}' resume='true'/>`);
      // No resumption between servers, whatever the peer asked for.
      expect(await peer.waitFor(/<enabled[^>]*\/>/)).toBe(`<enabled xmlns='${SM}'/>`);
      peer.take();
      peer.write(`<enable xmlns='${SM}'/>`);
      expect(await peer.waitFor(/<\/failed>/)).toBe(
        `<failed xmlns='${SM}'><unexpected-request xmlns='${STANZAS}'/></failed>`,
      );
      peer.take();
      peer.write("<message from='carl@c.test' to='alice@a.test' id='s1'><body>one</body></message>");
      peer.write("<message from='carl@c.test' to='alice@a.test' id='s2'><body>two</body></message>");
      peer.write(`<r xmlns='${SM}'/>`);
      await until(() => a.router.received.length === 1, 'the first stanza is being routed');
      // The first is still being routed: no ack covers it yet.
      expect(peer.take()).toBe('');
      expect(await peer.waitFor(/<a [^>]*\/>/)).toBe(`<a xmlns='${SM}' h='2'/>`);
      peer.take();
      // We send nothing on this stream: any other h than 0 is impossible.
      peer.write(`<a xmlns='${SM}' h='0'/><a xmlns='${SM}' h='1'/>`);
      await peer.closed;
      expect(peer.take()).toBe(
        `<a xmlns='${SM}' h='2'/>` +
          "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" +
          "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>acknowledged more stanzas than were sent</text>" +
          `<handled-count-too-high xmlns='${SM}' h='1' send-count='0'/></stream:error></stream:stream>`,
      );
      a.router.received.length = 0;
    } finally {
      a.router.delayMs = 0;
    }
  });

  it('a last ack goes before the close tag, so the peer does not send again what was handled', async () => {
    const peer = await externalPeer();
    peer.write(`<enable xmlns='${SM}'/>`);
    await peer.waitFor(/<enabled[^>]*\/>/);
    peer.take();
    peer.write("<message from='carl@c.test' to='alice@a.test' id='f1'><body>last</body></message>");
    peer.write('</stream:stream>');
    await peer.closed;
    expect(peer.take()).toBe(`<a xmlns='${SM}' h='1'/></stream:stream>`);
    a.router.received.length = 0;
  });

  it('an <a/> or <r/> without stream management enabled, or with a malformed h, ends the stream', async () => {
    const bare = await externalPeer();
    bare.write(`<r xmlns='${SM}'/>`);
    await expectStreamError(bare, 'unsupported-stanza-type', 'stream management is not enabled');
    const peer = await externalPeer();
    peer.write(`<enable xmlns='${SM}'/>`);
    await peer.waitFor(/<enabled[^>]*\/>/);
    peer.take();
    peer.write(`<a xmlns='${SM}' h='-1'/>`);
    await expectStreamError(peer, 'bad-format', 'h must be an unsigned 32-bit integer');
  });
});
