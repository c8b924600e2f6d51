/**
 * XMPP over WebSocket (RFC 7395) on the c2s engine, with a raw `ws` client: the handshake and its subprotocol,
 * `<open/>`/features/SASL/restart/bind, stanzas between clients, `<close/>`, and the exact stream error (then
 * `<close/>`) for every kind of bad message; keep-alive pings and the cut-off of a reader that does not read.
 */
import { get } from 'node:https';
import type { ScramHash } from '@irsp/credentials';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  C2sServer,
  escapeText,
  jidToString,
  plainMechanism,
  scramMechanism,
  xml,
  type C2sLogger,
  type C2sRouter,
  type C2sSession,
  type CredentialLookup,
  type Element,
} from '../../src/index.js';
import { serverTlsFor, tempDir } from '../../../../test/support/irsp.js';
import { clientFinal, credentialFor } from '../sasl/helpers.js';
import { CLOSE, WsClient } from './ws-client.js';

const DOMAIN = 'example.test';
const MAX_STANZA = 4096;
const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';
const OPEN =
  /^<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='([0-9a-f]{24})' from='example\.test' version='1\.0' xml:lang='en'\/>$/;
const SASL_FEATURES =
  "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>" +
  `<mechanisms xmlns='${SASL}'><mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism>` +
  '<mechanism>PLAIN</mechanism></mechanisms></stream:features>';
const BIND_FEATURES =
  "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>" +
  "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>" +
  "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session><sm xmlns='urn:xmpp:sm:3'/></stream:features>";

/** A stream error as one message: the `stream` prefix declared on it (RFC 7395 §3.5). */
function streamError(condition: string, text?: string): string {
  const body = text === undefined ? '' : `<text xmlns='${STREAMS}' xml:lang='en'>${escapeText(text)}</text>`;
  return (
    "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>" +
    `<${condition} xmlns='${STREAMS}'/>${body}</stream:error>`
  );
}

const SAXES_TEXT = Symbol("the parser's message");
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const passwords: Record<string, string> = { alice: 'alice pw', bob: 'bob pw', carol: 'carol pw' };
const SALT = 'QSXCR+Q6sek8bf92';
const lookup: CredentialLookup = async (username: string, hash: ScramHash) =>
  Object.hasOwn(passwords, username) ? credentialFor(passwords[username]!, SALT, 4096, hash) : undefined;

/** Delivers to bound full JIDs; a message with the body `flood` buries its sender under output instead. */
class TestRouter implements C2sRouter {
  readonly sessions = new Map<string, C2sSession>();
  readonly unboundJids: string[] = [];
  bound(session: C2sSession): void {
    this.sessions.set(jidToString(session.jid), session);
  }
  route(session: C2sSession, stanza: Element): void {
    if (stanza.getChildText('body') === 'flood') {
      const self = jidToString(session.jid);
      for (let i = 0; i < 400; i++)
        session.send(xml('message', { to: self }, xml('body', {}, 'x'.repeat(16_000))));
      return;
    }
    const target = stanza.attrs.to === undefined ? undefined : this.sessions.get(stanza.attrs.to);
    target?.send(stanza);
  }
  unbound(session: C2sSession): void {
    this.sessions.delete(jidToString(session.jid));
    this.unboundJids.push(jidToString(session.jid));
  }
}

const logged: { level: string; msg: string; obj: object }[] = [];
const logger: C2sLogger = {
  debug: (obj, msg) => logged.push({ level: 'debug', obj, msg }),
  info: (obj, msg) => logged.push({ level: 'info', obj, msg }),
  warn: (obj, msg) => logged.push({ level: 'warn', obj, msg }),
  error: (obj, msg) => logged.push({ level: 'error', obj, msg }),
};

let dir: Awaited<ReturnType<typeof tempDir>>;
let tls: { cert: string; key: string; ca: string };
let server: C2sServer;
let router: TestRouter;
let url: string;
const clients: WsClient[] = [];

function newServer(): C2sServer {
  return new C2sServer({
    domain: DOMAIN,
    tls,
    mechanisms: [scramMechanism('sha256', lookup), scramMechanism('sha1', lookup), plainMechanism(lookup)],
    router,
    logger,
    limits: {
      maxStanzaBytes: MAX_STANZA,
      authTimeoutMs: 3_000,
      keepaliveIntervalMs: 300,
      maxBufferedBytes: 64 * 1024,
    },
  });
}

async function connect(protocols?: string[]): Promise<WsClient> {
  const client = await WsClient.connect(url, tls.ca, protocols);
  clients.push(client);
  return client;
}

/** `<open/>` answered with `<open/>` and the SASL features; returns the stream id. */
async function opened(client: WsClient): Promise<string> {
  client.open(DOMAIN);
  const id = OPEN.exec(await client.next())?.[1];
  expect(id).toBeDefined();
  expect(await client.next()).toBe(SASL_FEATURES);
  return id!;
}

/** PLAIN, restart, bind: a bound client. */
async function login(user: string, resource: string): Promise<WsClient> {
  const client = await connect();
  await opened(client);
  const plain = Buffer.from(`\0${user}\0${passwords[user]}`).toString('base64');
  client.send(`<auth xmlns='${SASL}' mechanism='PLAIN'>${plain}</auth>`);
  expect(await client.next()).toBe(`<success xmlns='${SASL}'/>`);
  client.open(DOMAIN);
  expect(await client.next()).toMatch(OPEN);
  expect(await client.next()).toBe(BIND_FEATURES);
  client.send(
    `<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>` +
      `<resource>${resource}</resource></bind></iq>`,
  );
  expect(await client.next()).toBe(
    `<iq xmlns='jabber:client' type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>` +
      `<jid>${user}@${DOMAIN}/${resource}</jid></bind></iq>`,
  );
  return client;
}

/** The messages after the SASL features, up to the WebSocket close, and its code. */
async function ending(client: WsClient): Promise<{ frames: string[]; code: number }> {
  const { code } = await client.closed;
  return { frames: client.frames.slice(2), code };
}

beforeAll(async () => {
  dir = await tempDir();
  tls = await serverTlsFor(dir.path, 'c2s', [DOMAIN]);
  router = new TestRouter();
  server = newServer();
  const port = await server.listenWebSocket(0, '127.0.0.1');
  url = `wss://127.0.0.1:${port}/xmpp-websocket`;
});

afterAll(async () => {
  for (const client of clients) client.ws.terminate();
  await server?.close();
  await dir?.remove();
});

describe('the handshake (RFC 7395 §3.1)', () => {
  it('agrees on the xmpp subprotocol, also when the client offers others first', async () => {
    expect((await connect()).ws.protocol).toBe('xmpp');
    expect((await connect(['chat', 'xmpp'])).ws.protocol).toBe('xmpp');
  });

  it('refuses a handshake without the xmpp subprotocol (400) and other paths (404)', async () => {
    await expect(WsClient.connect(url, tls.ca, [])).rejects.toThrow('Unexpected server response: 400');
    await expect(WsClient.connect(url, tls.ca, ['chat'])).rejects.toThrow('Unexpected server response: 400');
    await expect(WsClient.connect(url.replace('/xmpp-websocket', '/other'), tls.ca)).rejects.toThrow(
      'Unexpected server response: 404',
    );
  });

  it('answers a plain HTTPS request with 426 Upgrade Required at the path, 404 elsewhere', async () => {
    const status = (at: string) =>
      new Promise<number | undefined>((resolve, reject) =>
        get(at.replace('wss:', 'https:'), { ca: tls.ca }, (response) => {
          response.resume();
          resolve(response.statusCode);
        }).on('error', reject),
      );
    expect(await status(url)).toBe(426);
    expect(await status(url.replace('/xmpp-websocket', '/other'))).toBe(404);
  });
});

describe('a stream over WebSocket', () => {
  it('open → SASL PLAIN (offered: TLS is the wss layer) → restart with a new <open/> → bind', async () => {
    const client = await connect();
    const first = await opened(client);
    client.send(
      `<auth xmlns='${SASL}' mechanism='PLAIN'>${Buffer.from('\0alice\0alice pw').toString('base64')}</auth>`,
    );
    expect(await client.next()).toBe(`<success xmlns='${SASL}'/>`);
    // RFC 7395 §3.7: the client opens a new stream; the server answers with a new id.
    client.send(
      `<?xml version='1.0'?><open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${DOMAIN}' version='1.0'/>`,
    );
    const second = OPEN.exec(await client.next())?.[1];
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(await client.next()).toBe(BIND_FEATURES);
    client.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    expect(await client.next()).toMatch(
      /^<iq xmlns='jabber:client' type='result' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@example\.test\/[0-9a-f]{16}<\/jid><\/bind><\/iq>$/,
    );
  });

  it('logs in with SCRAM-SHA-1: challenge, response, success with the server signature', async () => {
    const client = await connect();
    await opened(client);
    const clientFirstBare = 'n=bob,r=fyko+d2lbbFgONRv9qkxdawL';
    client.send(
      `<auth xmlns='${SASL}' mechanism='SCRAM-SHA-1'>${Buffer.from(`n,,${clientFirstBare}`).toString('base64')}</auth>`,
    );
    const challenge =
      /^<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>([A-Za-z0-9+/=]+)<\/challenge>$/.exec(
        await client.next(),
      );
    const serverFirst = Buffer.from(challenge![1]!, 'base64').toString();
    const withoutProof = `c=biws,r=${serverFirst.split(',')[0]!.slice(2)}`;
    const { proof, serverSignature } = clientFinal(
      'sha1',
      'bob pw',
      clientFirstBare,
      serverFirst,
      withoutProof,
    );
    client.send(
      `<response xmlns='${SASL}'>${Buffer.from(`${withoutProof},p=${proof}`).toString('base64')}</response>`,
    );
    expect(await client.next()).toBe(
      `<success xmlns='${SASL}'>${Buffer.from(`v=${serverSignature}`).toString('base64')}</success>`,
    );
  });

  it('carries stanzas between clients, each message declaring jabber:client', async () => {
    const alice = await login('alice', 'web');
    const bob = await login('bob', 'web');
    alice.send(
      "<message xmlns='jabber:client' to='bob@example.test/web' id='m1'><body>hi bob</body></message>",
    );
    expect(await bob.next()).toBe(
      "<message xmlns='jabber:client' to='bob@example.test/web' id='m1' from='alice@example.test/web'><body>hi bob</body></message>",
    );
    // Without a namespace of its own a stanza is in jabber:client, and goes out declaring it.
    alice.send("<message to='bob@example.test/web' id='m2'><body>again</body></message>");
    expect(await bob.next()).toBe(
      "<message xmlns='jabber:client' to='bob@example.test/web' id='m2' from='alice@example.test/web'><body>again</body></message>",
    );
  });

  it('<close/> from the client: what it sent before is handled, then <close/> back and the WebSocket closes', async () => {
    const carol = await login('carol', 'web');
    const bob = await login('bob', 'second');
    carol.send("<message to='bob@example.test/second'><body>bye</body></message>");
    carol.send(CLOSE);
    expect(await bob.next()).toBe(
      "<message xmlns='jabber:client' to='bob@example.test/second' from='carol@example.test/web'><body>bye</body></message>",
    );
    expect(await carol.next()).toBe(CLOSE);
    expect((await carol.closed).code).toBe(1000);
    await expect.poll(() => router.unboundJids).toContain('carol@example.test/web');
  });

  it('keeps an idle stream alive with WebSocket pings, never whitespace', async () => {
    const client = await login('alice', 'idle');
    const before = client.frames.length;
    await expect.poll(() => client.pings.length, { timeout: 3_000 }).toBeGreaterThan(1);
    expect(client.frames.length).toBe(before);
  });
});

describe('bad input: the stream error as one message, then <close/>, then the WebSocket closes', () => {
  it.each([
    ['malformed XML', '<message><body>x</message>', 'not-well-formed', SAXES_TEXT],
    [
      'two elements in one message',
      '<presence/><presence/>',
      'bad-format',
      'a WebSocket message must be exactly one XML element (RFC 7395 §3.3.3)',
    ],
    [
      'whitespace before the element',
      ' <presence/>',
      'bad-format',
      'a WebSocket message must be exactly one XML element (RFC 7395 §3.3.3)',
    ],
    ['a DOCTYPE', '<!DOCTYPE x [<!ENTITY a "b">]><presence/>', 'restricted-xml', 'DOCTYPE is not allowed'],
    ['a comment', '<presence><!-- x --></presence>', 'restricted-xml', 'comments are not allowed'],
    [
      'a processing instruction',
      '<presence><?pi x?></presence>',
      'restricted-xml',
      'processing instructions are not allowed',
    ],
    ['an undeclared prefix', '<stream:features/>', 'not-well-formed', SAXES_TEXT],
    [
      'a stanza before authentication',
      "<message to='bob@example.test'><body>x</body></message>",
      'not-authorized',
      undefined,
    ],
    [
      'a message above maxStanzaBytes',
      `<message><body>${'x'.repeat(MAX_STANZA)}</body></message>`,
      'policy-violation',
      `stanza larger than ${MAX_STANZA} bytes`,
    ],
  ])('%s: %s → %s', async (_label, input, condition, text) => {
    const client = await connect();
    await opened(client);
    client.send(input);
    const { frames, code } = await ending(client);
    if (typeof text === 'symbol') {
      // The text is the XML parser's own message: only its presence is asserted.
      const [error, ...rest] = frames;
      expect(error).toMatch(
        new RegExp(
          `^${escapeRegExp(streamError(condition, 'PARSER-TEXT')).replace('PARSER-TEXT', '[^<]+')}$`,
        ),
      );
      expect(rest).toEqual([CLOSE]);
    } else {
      expect(frames).toEqual([streamError(condition, text), CLOSE]);
    }
    expect(code).toBe(1000);
  });

  it('a binary message → bad-format', async () => {
    const client = await connect();
    await opened(client);
    client.send(Buffer.from('<presence/>'));
    expect(await ending(client)).toEqual({
      frames: [streamError('bad-format', 'binary messages are not allowed (RFC 7395 §3.2)'), CLOSE],
      code: 1000,
    });
  });

  it('before <open/>: the server still opens first (RFC 7395 §3.5)', async () => {
    const cases: [string, string, string | undefined][] = [
      ["<message xmlns='jabber:client'/>", 'not-well-formed', '<message> before <open/>'],
      [
        `<open xmlns='jabber:client' to='${DOMAIN}' version='1.0'/>`,
        'invalid-namespace',
        '<open/> must be in urn:ietf:params:xml:ns:xmpp-framing',
      ],
      [
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='elsewhere.test' version='1.0'/>",
        'host-unknown',
        undefined,
      ],
      [
        `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${DOMAIN}'/>`,
        'unsupported-version',
        undefined,
      ],
    ];
    for (const [input, condition, text] of cases) {
      const client = await connect();
      client.send(input);
      await client.closed;
      expect(client.frames).toHaveLength(3);
      expect(client.frames[0]).toMatch(OPEN);
      expect(client.frames.slice(1)).toEqual([streamError(condition, text), CLOSE]);
    }
  });

  it('a message above what ws buffers (2 × maxStanzaBytes) is cut by ws alone: close code 1009', async () => {
    const client = await connect();
    await opened(client);
    client.send(`<message><body>${'x'.repeat(2 * MAX_STANZA)}</body></message>`);
    expect(await ending(client)).toEqual({ frames: [], code: 1009 });
  });

  it('invalid UTF-8 in a text message is refused by ws: close code 1007', async () => {
    const client = await connect();
    await opened(client);
    client.ws.send(Buffer.from([0x3c, 0x61, 0xff, 0x2f, 0x3e]), { binary: false });
    expect(await ending(client)).toEqual({ frames: [], code: 1007 });
  });

  it('a client that never authenticates is cut off: connection-timeout', async () => {
    const client = await connect();
    await opened(client);
    expect(await ending(client)).toEqual({
      frames: [streamError('connection-timeout', 'not authenticated in time'), CLOSE],
      code: 1000,
    });
  });

  it('a reader that does not read while output piles up is disconnected', async () => {
    const client = await login('bob', 'slow');
    client.ws.pause();
    client.send("<message to='bob@example.test/slow'><body>flood</body></message>");
    await expect.poll(() => router.unboundJids).toContain('bob@example.test/slow');
    expect(logged.some((l) => l.level === 'warn' && l.msg === 'reader too slow: disconnected')).toBe(true);
    client.ws.resume();
    expect((await client.closed).code).toBe(1006);
  });

  it('after all of that, logins and stanzas still work', async () => {
    const alice = await login('alice', 'late');
    const bob = await login('bob', 'late');
    bob.send("<message to='alice@example.test/late'><body>still here</body></message>");
    expect(await alice.next()).toBe(
      "<message xmlns='jabber:client' to='alice@example.test/late' from='bob@example.test/late'><body>still here</body></message>",
    );
  });
});

describe('shutdown', () => {
  it('closing the server ends each WebSocket stream with system-shutdown, then <close/>', async () => {
    const other = newServer();
    const port = await other.listenWebSocket(0, '127.0.0.1', '/ws');
    const client = await WsClient.connect(`wss://127.0.0.1:${port}/ws`, tls.ca);
    await opened(client);
    await other.close();
    expect(await ending(client)).toEqual({ frames: [streamError('system-shutdown'), CLOSE], code: 1000 });
  });
});
