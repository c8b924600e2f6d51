/**
 * XEP-0198 (v1.6) stream management on c2s, with a raw client and exact stanzas: enabling, acks both ways (`h`
 * counting a stanza once its routing has settled), the server's ack requests, the bounded unacknowledged queue,
 * resumption on a new connection (what the client did not acknowledge sent again, the session never unbound), its
 * window, and what hostile or confused clients get.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  C2sServer,
  jidToString,
  parseElement,
  scramMechanism,
  type C2sLimits,
  type C2sLogger,
  type C2sRouter,
  type C2sSession,
  type Element,
} from '../../src/index.js';
import { serverTlsFor, tempDir } from '../../../../test/support/irsp.js';
import { RawXmpp } from '../../../../test/support/xmpp.js';
import { DOMAIN, HEADER, SASL, SERVER_HEADER, authenticate, bind, lookupIn, quote } from './raw-session.js';

const SM = 'urn:xmpp:sm:3';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';
const passwords: Record<string, string> = { alice: 'alice pw', bob: 'bob pw', mallory: 'mallory pw' };
const lookup = lookupIn(passwords);

const failed = (condition: string) => `<failed xmlns='${SM}'><${condition} xmlns='${STANZAS}'/></failed>`;
const streamError = (condition: string, text?: string, detail = '') =>
  `<stream:error><${condition} xmlns='${STREAMS}'/>` +
  (text === undefined ? '' : `<text xmlns='${STREAMS}' xml:lang='en'>${text}</text>`) +
  `${detail}</stream:error></stream:stream>`;
const message = (to: string, id: string, from: string) =>
  `<message to='${to}' id='${id}' from='${from}'><body>${id}</body></message>`;
const exactly = (text: string) => new RegExp(quote(text));

/** Routes by full JID; remembers what the engine reports, in order; routing to `slow@` waits for `release()`. */
class TestRouter implements C2sRouter {
  readonly sessions = new Map<string, C2sSession>();
  readonly events: string[] = [];
  readonly unacked: { jid: string; stanzas: string[] }[] = [];
  private held: (() => void)[] = [];
  bound(session: C2sSession): void {
    this.sessions.set(jidToString(session.jid), session);
    this.events.push(`bound ${jidToString(session.jid)}`);
  }
  route(_session: C2sSession, stanza: Element): void | Promise<void> {
    if (stanza.attrs.to?.startsWith('slow@')) return new Promise((resolve) => this.held.push(resolve));
    const target = stanza.attrs.to === undefined ? undefined : this.sessions.get(stanza.attrs.to);
    target?.send(stanza);
  }
  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
  unacknowledged(session: C2sSession, stanzas: Element[]): void {
    this.events.push(`unacknowledged ${jidToString(session.jid)} ${stanzas.length}`);
    this.unacked.push({ jid: jidToString(session.jid), stanzas: stanzas.map(String) });
  }
  unbound(session: C2sSession): void {
    if (this.sessions.get(jidToString(session.jid)) === session)
      this.sessions.delete(jidToString(session.jid));
    this.events.push(`unbound ${jidToString(session.jid)}`);
  }
}

const silent: C2sLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

let dir: Awaited<ReturnType<typeof tempDir>>;
let tls: { cert: string; key: string };
const servers: C2sServer[] = [];
const raws: RawXmpp[] = [];

beforeAll(async () => {
  dir = await tempDir();
  tls = await serverTlsFor(dir.path, 'c2s', [DOMAIN]);
});

afterEach(async () => {
  for (const raw of raws.splice(0)) raw.destroy();
  for (const server of servers.splice(0)) await server.close();
});

afterAll(async () => {
  await dir?.remove();
});

/** A server on the plain listener with its own router; ack requests off unless a test asks for them. */
async function start(limits: Partial<C2sLimits> = {}): Promise<{ router: TestRouter; port: number }> {
  const router = new TestRouter();
  const server = new C2sServer({
    domain: DOMAIN,
    tls,
    mechanisms: [scramMechanism('sha256', lookup), scramMechanism('sha1', lookup)],
    router,
    logger: silent,
    limits: { ackRequestStanzas: 1_000, ackRequestMs: 600_000, ...limits },
  });
  servers.push(server);
  return { router, port: await server.listenPlain(0, '127.0.0.1') };
}

async function authenticated(port: number, user: string): Promise<RawXmpp> {
  const raw = await authenticate(port, user, passwords[user]!);
  raws.push(raw);
  return raw;
}

async function login(port: number, user: string, resource = 'r'): Promise<RawXmpp> {
  const raw = await authenticated(port, user);
  await bind(raw, user, resource);
  return raw;
}

/** Bound, with stream management enabled and resumable: the resumption id. */
async function enableResumable(raw: RawXmpp, max = "'300'"): Promise<string> {
  raw.write(`<enable xmlns='${SM}' resume='true'/>`);
  const enabled = await raw.take(
    new RegExp(`<enabled xmlns='${SM}' id='([A-Za-z0-9_-]{32})' resume='true' max=${max}/>`),
  );
  return enabled[1]!;
}

const ALICE = `alice@${DOMAIN}/r`;
const BOB = `bob@${DOMAIN}/r`;

describe('enabling (XEP-0198 §3)', () => {
  it('is offered after authentication and enabled after binding, once', async () => {
    const { port } = await start();
    const raw = await login(port, 'alice');
    raw.write(`<enable xmlns='${SM}'/>`);
    await raw.take(exactly(`<enabled xmlns='${SM}'/>`));
    raw.write(`<enable xmlns='${SM}'/>`);
    await raw.take(exactly(failed('unexpected-request')));
  });

  it('with resume: an unguessable id and the window, shortened to what the client prefers', async () => {
    const { port } = await start({ resumptionTimeoutMs: 300_000 });
    const first = await enableResumable(await login(port, 'alice', 'a'));
    const second = await enableResumable(await login(port, 'alice', 'b'));
    expect(first).not.toBe(second);
    const raw = await login(port, 'bob');
    raw.write(`<enable xmlns='${SM}' resume='1' max='60'/>`);
    await raw.take(new RegExp(`<enabled xmlns='${SM}' id='[A-Za-z0-9_-]{32}' resume='true' max='60'/>`));
  });

  it('is refused before authentication and before binding: unexpected-request', async () => {
    const { port } = await start();
    const raw = await authenticated(port, 'alice');
    raw.write(`<enable xmlns='${SM}'/>`);
    await raw.take(exactly(failed('unexpected-request')));
    const fresh = await RawXmpp.connect(port);
    raws.push(fresh);
    fresh.write(HEADER);
    await fresh.take(new RegExp(`${SERVER_HEADER}<stream:features>.*</stream:features>`));
    fresh.write(`<enable xmlns='${SM}'/>`);
    await fresh.take(exactly(failed('unexpected-request')));
    fresh.write(`<resume xmlns='${SM}' previd='x' h='0'/>`);
    await fresh.take(exactly(failed('unexpected-request')));
    // The stream goes on: SASL still works.
    fresh.write(`<auth xmlns='${SASL}' mechanism='X-NONE'/>`);
    await fresh.take(exactly(`<failure xmlns='${SASL}'><invalid-mechanism/></failure>`));
  });

  it('garbage attributes are a bad-request, and nothing is enabled', async () => {
    const { port } = await start();
    const raw = await login(port, 'alice');
    raw.write(`<enable xmlns='${SM}' resume='maybe'/>`);
    await raw.take(exactly(failed('bad-request')));
    raw.write(`<enable xmlns='${SM}' max='0'/>`);
    await raw.take(exactly(failed('bad-request')));
    raw.write(`<enable xmlns='${SM}' max='1e3'/>`);
    await raw.take(exactly(failed('bad-request')));
    raw.write(`<r xmlns='${SM}'/>`);
    await raw.take(exactly(streamError('unsupported-stanza-type', 'stream management is not enabled')));
    await raw.closed;
  });
});

describe('acks (XEP-0198 §4)', () => {
  it('counts the stanzas the client sent, and answers <r/> with h', async () => {
    const { port } = await start();
    const alice = await login(port, 'alice');
    const bob = await login(port, 'bob');
    alice.write(`<enable xmlns='${SM}'/>`);
    await alice.take(exactly(`<enabled xmlns='${SM}'/>`));
    alice.write(`<r xmlns='${SM}'/>`);
    await alice.take(exactly(`<a xmlns='${SM}' h='0'/>`));
    for (const id of ['m1', 'm2', 'm3'])
      alice.write(`<message to='${BOB}' id='${id}'><body>${id}</body></message>`);
    alice.write(`<r xmlns='${SM}'/>`);
    await alice.take(exactly(`<a xmlns='${SM}' h='3'/>`));
    await bob.take(exactly(['m1', 'm2', 'm3'].map((id) => message(BOB, id, ALICE)).join('')));
  });

  it('counts a stanza only once its routing has settled, so an <a/> never covers one in flight', async () => {
    const { router, port } = await start();
    const alice = await login(port, 'alice');
    alice.write(`<enable xmlns='${SM}'/>`);
    await alice.take(exactly(`<enabled xmlns='${SM}'/>`));
    alice.write(`<message to='slow@${DOMAIN}' id='s1'><body>s1</body></message><r xmlns='${SM}'/>`);
    await new Promise((r) => setTimeout(r, 300));
    expect(alice.text).toBe('');
    router.release();
    await alice.take(exactly(`<a xmlns='${SM}' h='1'/>`));
  });

  it('asks for an ack every N stanzas and after T ms of unacknowledged output; acks empty the queue', async () => {
    const { router, port } = await start({ ackRequestStanzas: 2, ackRequestMs: 400 });
    const alice = await login(port, 'alice');
    const bob = await login(port, 'bob');
    alice.write(`<enable xmlns='${SM}'/>`);
    await alice.take(exactly(`<enabled xmlns='${SM}'/>`));
    bob.write(`<message to='${ALICE}' id='m1'><body>m1</body></message>`);
    bob.write(`<message to='${ALICE}' id='m2'><body>m2</body></message>`);
    await alice.take(exactly(message(ALICE, 'm1', BOB) + message(ALICE, 'm2', BOB) + `<r xmlns='${SM}'/>`));
    alice.write(`<a xmlns='${SM}' h='2'/>`);
    bob.write(`<message to='${ALICE}' id='m3'><body>m3</body></message>`);
    await alice.take(exactly(message(ALICE, 'm3', BOB)));
    // One stanza, fewer than N: the timer asks.
    await alice.take(exactly(`<r xmlns='${SM}'/>`), 3_000);
    alice.write(`<a xmlns='${SM}' h='3'/>`);
    alice.write('</stream:stream>');
    await alice.closed;
    expect(router.unacked).toEqual([{ jid: ALICE, stanzas: [] }]);
  });

  it('an h above what was sent ends the stream (undefined-condition, handled-count-too-high)', async () => {
    const { router, port } = await start();
    const alice = await login(port, 'alice');
    const bob = await login(port, 'bob');
    alice.write(`<enable xmlns='${SM}'/>`);
    await alice.take(exactly(`<enabled xmlns='${SM}'/>`));
    bob.write(`<message to='${ALICE}' id='m1'><body>m1</body></message>`);
    bob.write(`<message to='${ALICE}' id='m2'><body>m2</body></message>`);
    await alice.take(exactly(message(ALICE, 'm1', BOB) + message(ALICE, 'm2', BOB)));
    alice.write(`<a xmlns='${SM}' h='5'/>`);
    await alice.take(
      exactly(
        streamError(
          'undefined-condition',
          'acknowledged more stanzas than were sent',
          `<handled-count-too-high xmlns='${SM}' h='5' send-count='2'/>`,
        ),
      ),
    );
    await alice.closed;
    // The session ends; what the client never acknowledged goes back to the router, then it is unbound.
    expect(router.unacked).toEqual([
      { jid: ALICE, stanzas: [message(ALICE, 'm1', BOB), message(ALICE, 'm2', BOB)] },
    ]);
    expect(router.events.slice(-2)).toEqual([`unacknowledged ${ALICE} 2`, `unbound ${ALICE}`]);
  });

  it('an h going backwards is as impossible as one too high', async () => {
    const { router, port } = await start();
    const alice = await login(port, 'alice');
    const bob = await login(port, 'bob');
    alice.write(`<enable xmlns='${SM}'/>`);
    await alice.take(exactly(`<enabled xmlns='${SM}'/>`));
    for (const id of ['m1', 'm2', 'm3'])
      bob.write(`<message to='${ALICE}' id='${id}'><body>${id}</body></message>`);
    await alice.take(exactly(['m1', 'm2', 'm3'].map((id) => message(ALICE, id, BOB)).join('')));
    alice.write(`<a xmlns='${SM}' h='2'/><a xmlns='${SM}' h='1'/>`);
    await alice.take(
      exactly(
        streamError(
          'undefined-condition',
          'acknowledged more stanzas than were sent',
          `<handled-count-too-high xmlns='${SM}' h='1' send-count='3'/>`,
        ),
      ),
    );
    expect(router.unacked).toEqual([{ jid: ALICE, stanzas: [message(ALICE, 'm3', BOB)] }]);
  });

  it.each([["h='x'"], ["h='-1'"], ["h='4294967296'"], ["h=' 1'"], ['']])(
    'an <a/> with %s is bad-format',
    async (attribute) => {
      const { port } = await start();
      const alice = await login(port, 'alice');
      alice.write(`<enable xmlns='${SM}'/>`);
      await alice.take(exactly(`<enabled xmlns='${SM}'/>`));
      alice.write(`<a xmlns='${SM}' ${attribute}/>`);
      await alice.take(exactly(streamError('bad-format', 'h must be an unsigned 32-bit integer')));
      await alice.closed;
    },
  );

  it('a client that never acks is cut off at the limit, and nothing it did not ack is lost', async () => {
    const { router, port } = await start({ maxUnackedStanzas: 3 });
    const alice = await login(port, 'alice');
    const bob = await login(port, 'bob');
    alice.write(`<enable xmlns='${SM}'/>`);
    await alice.take(exactly(`<enabled xmlns='${SM}'/>`));
    const ids = ['m1', 'm2', 'm3', 'm4'];
    for (const id of ids) bob.write(`<message to='${ALICE}' id='${id}'><body>${id}</body></message>`);
    await alice.take(
      exactly(
        ids
          .slice(0, 3)
          .map((id) => message(ALICE, id, BOB))
          .join('') + streamError('policy-violation', 'too many unacknowledged stanzas'),
      ),
    );
    await alice.closed;
    expect(router.unacked).toEqual([{ jid: ALICE, stanzas: ids.map((id) => message(ALICE, id, BOB)) }]);
  });
});

describe('confirmed sends', () => {
  it('resolve on the ack with stream management, and are not handed back when the session ends', async () => {
    const { router, port } = await start();
    const alice = await login(port, 'alice');
    alice.write(`<enable xmlns='${SM}'/>`);
    await alice.take(exactly(`<enabled xmlns='${SM}'/>`));
    const session = router.sessions.get(ALICE)!;
    const first = session.sendConfirmed(parseElement(`<message id='c1' to='${ALICE}'/>`));
    const second = session.sendConfirmed(parseElement(`<message id='c2' to='${ALICE}'/>`));
    // The ack their owner waits for is asked for at the end of the tick, once for both.
    await alice.take(
      exactly(`<message id='c1' to='${ALICE}'/><message id='c2' to='${ALICE}'/><r xmlns='${SM}'/>`),
    );
    let settled = false;
    void first.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    alice.write(`<a xmlns='${SM}' h='1'/>`);
    expect(await first).toBe(true);
    alice.write('</stream:stream>');
    expect(await second).toBe(false);
    expect(router.unacked).toEqual([{ jid: ALICE, stanzas: [] }]);
  });

  it('resolve once written without stream management, false once the session is gone', async () => {
    const { router, port } = await start();
    const alice = await login(port, 'alice');
    const session = router.sessions.get(ALICE)!;
    expect(await session.sendConfirmed(parseElement(`<message id='c1' to='${ALICE}'/>`))).toBe(true);
    await alice.take(exactly(`<message id='c1' to='${ALICE}'/>`));
    alice.destroy();
    await expect.poll(() => router.events.at(-1)).toBe(`unbound ${ALICE}`);
    expect(await session.sendConfirmed(parseElement(`<message id='c2' to='${ALICE}'/>`))).toBe(false);
  });
});

describe('the output barrier (a held message)', () => {
  it("counts a refusal written at the barrier's place where it is on the wire, ahead of what was held", async () => {
    const { router, port } = await start({ resumptionTimeoutMs: 30_000 });
    const alice = await login(port, 'alice');
    const previd = await enableResumable(alice, "'30'");
    const session = router.sessions.get(ALICE)!;
    let refuse!: (refusal: Element) => void;
    session.hold(new Promise<Element>((resolve) => (refuse = resolve)));
    // Sent after the hold: counted now, written once the held promise settles.
    session.send(parseElement(`<message to='${ALICE}' id='after'><body>after</body></message>`));
    refuse(parseElement(`<message to='${ALICE}' id='refusal' type='error'/>`));
    await alice.take(
      exactly(
        `<message to='${ALICE}' id='refusal' type='error'/>` +
          `<message to='${ALICE}' id='after'><body>after</body></message>`,
      ),
    );
    // The client has handled the first of them only, and the connection drops: the second is sent again.
    alice.write(`<a xmlns='${SM}' h='1'/>`);
    await new Promise((r) => setTimeout(r, 100));
    alice.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const back = await authenticated(port, 'alice');
    back.write(`<resume xmlns='${SM}' previd='${previd}' h='1'/>`);
    await back.take(
      exactly(
        `<resumed xmlns='${SM}' previd='${previd}' h='0'/>` +
          `<message to='${ALICE}' id='after'><body>after</body></message>` +
          `<r xmlns='${SM}'/>`,
      ),
    );
  });

  it('leaves no count behind for a held message that was stored (no refusal)', async () => {
    const { router, port } = await start();
    const alice = await login(port, 'alice');
    alice.write(`<enable xmlns='${SM}'/>`);
    await alice.take(exactly(`<enabled xmlns='${SM}'/>`));
    const session = router.sessions.get(ALICE)!;
    let store!: () => void;
    session.hold(new Promise<void>((resolve) => (store = resolve)));
    session.send(parseElement(`<message to='${ALICE}' id='after'/>`));
    store();
    await alice.take(exactly(`<message to='${ALICE}' id='after'/>`));
    // One stanza went out: h=1 covers it, h=2 would be more than was sent.
    alice.write(`<a xmlns='${SM}' h='2'/>`);
    await alice.take(
      exactly(
        streamError(
          'undefined-condition',
          'acknowledged more stanzas than were sent',
          `<handled-count-too-high xmlns='${SM}' h='2' send-count='1'/>`,
        ),
      ),
    );
  });
});

describe('resumption (XEP-0198 §5)', () => {
  it('after a dropped connection: <resumed/> with our h, then what the client did not ack, nothing twice', async () => {
    const { router, port } = await start({ resumptionTimeoutMs: 30_000 });
    const alice = await login(port, 'alice');
    const bob = await login(port, 'bob');
    const previd = await enableResumable(alice, "'30'");
    const session = router.sessions.get(ALICE);
    alice.write(`<message to='${BOB}' id='a1'><body>a1</body></message><r xmlns='${SM}'/>`);
    await alice.take(exactly(`<a xmlns='${SM}' h='1'/>`));
    await bob.take(exactly(message(BOB, 'a1', ALICE)));
    bob.write(`<message to='${ALICE}' id='m1'><body>m1</body></message>`);
    bob.write(`<message to='${ALICE}' id='m2'><body>m2</body></message>`);
    await alice.take(exactly(message(ALICE, 'm1', BOB) + message(ALICE, 'm2', BOB)));
    alice.write(`<a xmlns='${SM}' h='1'/>`);
    await new Promise((r) => setTimeout(r, 100));
    alice.destroy();
    await new Promise((r) => setTimeout(r, 200));
    // Away, but still bound: messages to it wait.
    expect(router.events).not.toContain(`unbound ${ALICE}`);
    bob.write(`<message to='${ALICE}' id='m3'><body>m3</body></message>`);
    await new Promise((r) => setTimeout(r, 100));
    const back = await authenticated(port, 'alice');
    back.write(`<resume xmlns='${SM}' previd='${previd}' h='1'/>`);
    await back.take(
      exactly(
        `<resumed xmlns='${SM}' previd='${previd}' h='1'/>` +
          message(ALICE, 'm2', BOB) +
          message(ALICE, 'm3', BOB) +
          `<r xmlns='${SM}'/>`,
      ),
    );
    expect(router.sessions.get(ALICE)).toBe(session);
    back.write(`<a xmlns='${SM}' h='3'/>`);
    // The resumed stream carries the session on: stanzas both ways, h continuing.
    back.write(`<message to='${BOB}' id='a2'><body>a2</body></message><r xmlns='${SM}'/>`);
    await back.take(exactly(`<a xmlns='${SM}' h='2'/>`));
    await bob.take(exactly(message(BOB, 'a2', ALICE)));
    bob.write(`<message to='${ALICE}' id='m4'><body>m4</body></message>`);
    await back.take(exactly(message(ALICE, 'm4', BOB)));
    back.write(`<a xmlns='${SM}' h='4'/>`);
    // A second <resume/> on the resumed stream is out of place.
    back.write(`<resume xmlns='${SM}' previd='${previd}' h='4'/>`);
    await back.take(exactly(failed('unexpected-request')));
    expect(router.events.filter((e) => e.startsWith('unbound') || e.startsWith('unack'))).toEqual([]);
    back.write('</stream:stream>');
    await back.closed;
    expect(router.events.slice(-2)).toEqual([`unacknowledged ${ALICE} 0`, `unbound ${ALICE}`]);
  });

  it('while the old connection is still open, it is closed (conflict) and the new one resumes', async () => {
    const { router, port } = await start();
    const alice = await login(port, 'alice');
    const previd = await enableResumable(alice);
    const back = await authenticated(port, 'alice');
    back.write(`<resume xmlns='${SM}' previd='${previd}' h='0'/>`);
    await back.take(exactly(`<resumed xmlns='${SM}' previd='${previd}' h='0'/>`));
    await alice.take(exactly(streamError('conflict', 'the session was resumed on another connection')));
    await alice.closed;
    expect(router.events).toEqual([`bound ${ALICE}`]);
  });

  it("someone else's id, an unknown id, or a malformed request resume nothing; the owner's session is untouched", async () => {
    const { router, port } = await start();
    const alice = await login(port, 'alice');
    const bob = await login(port, 'bob');
    const previd = await enableResumable(alice);
    const mallory = await authenticated(port, 'mallory');
    mallory.write(`<resume xmlns='${SM}' previd='${previd}' h='0'/>`);
    await mallory.take(exactly(failed('item-not-found')));
    mallory.write(`<resume xmlns='${SM}' previd='no-such-session' h='0'/>`);
    await mallory.take(exactly(failed('item-not-found')));
    mallory.write(`<resume xmlns='${SM}' previd='${previd}'/>`);
    await mallory.take(exactly(failed('bad-request')));
    mallory.write(`<resume xmlns='${SM}' previd='' h='0'/>`);
    await mallory.take(exactly(failed('bad-request')));
    mallory.write(`<resume xmlns='${SM}' previd='${previd}' h='zero'/>`);
    await mallory.take(exactly(failed('bad-request')));
    // After a failed resumption the client may still bind.
    await bind(mallory, 'mallory', 'r');
    bob.write(`<message to='${ALICE}' id='m1'><body>m1</body></message>`);
    await alice.take(exactly(message(ALICE, 'm1', BOB)));
    expect(router.events).not.toContain(`unbound ${ALICE}`);
  });

  it('an h above what was sent is refused; the session keeps waiting for a right one', async () => {
    const { router, port } = await start();
    const alice = await login(port, 'alice');
    const bob = await login(port, 'bob');
    const previd = await enableResumable(alice);
    bob.write(`<message to='${ALICE}' id='m1'><body>m1</body></message>`);
    await alice.take(exactly(message(ALICE, 'm1', BOB)));
    alice.destroy();
    const wrong = await authenticated(port, 'alice');
    wrong.write(`<resume xmlns='${SM}' previd='${previd}' h='2'/>`);
    await wrong.take(
      exactly(
        streamError(
          'undefined-condition',
          'acknowledged more stanzas than were sent',
          `<handled-count-too-high xmlns='${SM}' h='2' send-count='1'/>`,
        ),
      ),
    );
    const back = await authenticated(port, 'alice');
    back.write(`<resume xmlns='${SM}' previd='${previd}' h='0'/>`);
    await back.take(
      exactly(
        `<resumed xmlns='${SM}' previd='${previd}' h='0'/>` +
          message(ALICE, 'm1', BOB) +
          `<r xmlns='${SM}'/>`,
      ),
    );
    expect(router.events.filter((e) => e.includes(ALICE))).toEqual([`bound ${ALICE}`]);
  });

  it('when the window ends unresumed, the unacknowledged stanzas go to the router, then the session is unbound', async () => {
    const { router, port } = await start({ resumptionTimeoutMs: 1_000 });
    const alice = await login(port, 'alice');
    const bob = await login(port, 'bob');
    const previd = await enableResumable(alice, "'1'");
    bob.write(`<message to='${ALICE}' id='m1'><body>m1</body></message>`);
    await alice.take(exactly(message(ALICE, 'm1', BOB)));
    alice.destroy();
    await new Promise((r) => setTimeout(r, 100));
    bob.write(`<message to='${ALICE}' id='m2'><body>m2</body></message>`);
    await expect.poll(() => router.events.at(-1), { timeout: 5_000 }).toBe(`unbound ${ALICE}`);
    expect(router.events.slice(-2)).toEqual([`unacknowledged ${ALICE} 2`, `unbound ${ALICE}`]);
    expect(router.unacked).toEqual([
      { jid: ALICE, stanzas: [message(ALICE, 'm1', BOB), message(ALICE, 'm2', BOB)] },
    ]);
    const late = await authenticated(port, 'alice');
    late.write(`<resume xmlns='${SM}' previd='${previd}' h='0'/>`);
    await late.take(exactly(failed('item-not-found')));
  });

  it('a client whose network went silent (connection-timeout after an unanswered ping) can still resume', async () => {
    const { router, port } = await start({ idleTimeoutMs: 400 });
    const alice = await login(port, 'alice');
    const previd = await enableResumable(alice);
    const ping = await alice.take(
      new RegExp(
        `<iq type='get' id='(ping-[0-9a-f]{12})' from='${DOMAIN}' to='${quote(ALICE)}'><ping xmlns='urn:xmpp:ping'/></iq>`,
      ),
      5_000,
    );
    await alice.take(exactly(streamError('connection-timeout')), 5_000);
    await alice.closed;
    expect(router.events).toEqual([`bound ${ALICE}`]);
    const back = await authenticated(port, 'alice');
    back.write(`<resume xmlns='${SM}' previd='${previd}' h='0'/>`);
    // The ping was never acknowledged: sent again (the server's own; nobody else hears of it).
    await back.take(
      exactly(`<resumed xmlns='${SM}' previd='${previd}' h='0'/>` + ping[0] + `<r xmlns='${SM}'/>`),
    );
    // The old connection's close (ended, then destroyed 5 s later) must not reach the connection it resumed on.
    let open = true;
    void back.closed.then(() => (open = false));
    for (let i = 0; i < 28 && open; i++) {
      back.write(`<r xmlns='${SM}'/>`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(open).toBe(true);
    back.write('</stream:stream>');
    await back.closed;
    expect(router.unacked).toEqual([{ jid: ALICE, stanzas: [] }]);
  });

  it('a resumption does not wait longer than a login may take for a handler that hangs', async () => {
    const { router, port } = await start({ resumptionTimeoutMs: 30_000, authTimeoutMs: 1_000 });
    const alice = await login(port, 'alice');
    const previd = await enableResumable(alice, "'30'");
    // Its routing never settles (a database that does not answer).
    alice.write(`<message to='slow@${DOMAIN}/x' id='s1'><body>s1</body></message>`);
    await new Promise((r) => setTimeout(r, 100));
    alice.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const back = await authenticated(port, 'alice');
    back.write(`<resume xmlns='${SM}' previd='${previd}' h='0'/>`);
    await back.take(exactly(failed('item-not-found')), 5_000);
    router.release();
  });

  it('a clean close ends the session at once: nothing to resume', async () => {
    const { router, port } = await start();
    const alice = await login(port, 'alice');
    const previd = await enableResumable(alice);
    alice.write('</stream:stream>');
    await alice.closed;
    expect(router.events).toEqual([`bound ${ALICE}`, `unacknowledged ${ALICE} 0`, `unbound ${ALICE}`]);
    const back = await authenticated(port, 'alice');
    back.write(`<resume xmlns='${SM}' previd='${previd}' h='0'/>`);
    await back.take(exactly(failed('item-not-found')));
  });

  it('a waiting session closed by the router (a new bind of its resource) ends without waiting', async () => {
    const { router, port } = await start();
    const alice = await login(port, 'alice');
    await enableResumable(alice);
    alice.destroy();
    await new Promise((r) => setTimeout(r, 100));
    router.sessions.get(ALICE)!.close('conflict');
    expect(router.events).toEqual([`bound ${ALICE}`, `unacknowledged ${ALICE} 0`, `unbound ${ALICE}`]);
  });
});
