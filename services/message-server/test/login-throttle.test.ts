/**
 * Password guessing over XMPP SASL (docs/decisions/0010-guessing-throttle.md) with the default limits and a fake
 * clock: a guesser slows himself, not the owner; a distributed guesser is held to the per-account budget; the
 * budget holds across two message servers sharing one database. Each client address is a loopback address of
 * its own (127.0.0.0/8).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket as UndiciWebSocket } from 'undici';
import { client } from '@xmpp/client';
import { DEFAULT_GUESSING } from '@irsp/config';
import { openTestDb, type Db } from '@irsp/store';
import { tempDir } from '../../../test/support/irsp.js';
import { RawXmpp, xmppLogin } from '../../../test/support/xmpp.js';
import { DOMAIN, startXmppMessageServer, type XmppFixture } from './fixture.js';

let now = Date.UTC(2026, 11, 7, 3, 0, 0);
const clock = () => now;
let db: Db;
let one: XmppFixture;
let two: XmppFixture;
let dir: Awaited<ReturnType<typeof tempDir>>;
// @xmpp/websocket uses the global WebSocket, which Node 20 has only behind a flag: undici's is the same one.
const nodeWebSocket = globalThis.WebSocket;

beforeAll(async () => {
  globalThis.WebSocket = UndiciWebSocket as unknown as typeof globalThis.WebSocket;
  db = await openTestDb('msthrottle');
  // Two message servers of one AS: one database, one CA.
  dir = await tempDir();
  one = await startXmppMessageServer({ db, now: clock, tlsDir: dir.path });
  two = await startXmppMessageServer({ db, now: clock, tlsDir: dir.path, websocket: true });
  for (const name of ['alice', 'bob', 'carol', 'dave']) await one.register(name, `${name} right`);
}, 120_000);

afterAll(async () => {
  await one?.close();
  await two?.close();
  await db?.close();
  await dir?.remove();
  globalThis.WebSocket = nodeWebSocket;
});

/** A SCRAM-SHA-1 login with @xmpp/client over TCP (STARTTLS) or WebSocket, from 127.0.0.1: its SASL outcome. */
async function scram(
  fixture: XmppFixture,
  transport: 'tcp' | 'websocket',
  username: string,
  password: string,
) {
  const login =
    transport === 'tcp'
      ? xmppLogin({ port: fixture.c2sPort, domain: DOMAIN, username, password, mechanism: 'SCRAM-SHA-1' })
      : (async () => {
          const xmpp = client({
            service: `wss://127.0.0.1:${fixture.websocketPort}/xmpp-websocket`,
            domain: DOMAIN,
            credentials: async (authenticate: (c: object, m: string) => Promise<void>) =>
              authenticate({ username, password }, 'SCRAM-SHA-1'),
          });
          xmpp.reconnect.stop();
          xmpp.on('error', () => undefined);
          await xmpp.start();
          return xmpp;
        })();
  try {
    await (await login).stop();
    return 'success';
  } catch (error) {
    return /temporary-auth-failure|not-authorized/.exec(String(error))?.[0] ?? String(error);
  }
}

const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const OUTCOME = new RegExp(`<success xmlns='${SASL}'/>|<failure xmlns='${SASL}'><([a-z-]+)/></failure>`);

/** A SASL stream from one client address, kept open across attempts until the server closes it. */
class Guesser {
  private raw: RawXmpp | undefined;
  private failures = 0;

  constructor(
    private readonly fixture: XmppFixture,
    private readonly address: string,
  ) {}

  /** One PLAIN attempt: 'success' or the failure's condition. */
  async attempt(username: string, password: string): Promise<string> {
    const raw = await this.stream();
    const response = Buffer.from(`\0${username}\0${password}`).toString('base64');
    raw.write(`<auth xmlns='${SASL}' mechanism='PLAIN'>${response}</auth>`);
    const outcome = OUTCOME.exec(await raw.waitFor(OUTCOME, 15_000))!;
    await raw.take(/.*/);
    // A success restarts the stream, and the third not-authorized of a stream closes it: go on with a new one.
    if (outcome[1] === undefined || (outcome[1] === 'not-authorized' && ++this.failures === 3)) this.close();
    return outcome[1] ?? 'success';
  }

  close(): void {
    this.raw?.destroy();
    this.raw = undefined;
    this.failures = 0;
  }

  private async stream(): Promise<RawXmpp> {
    if (this.raw) return this.raw;
    const raw = await RawXmpp.connect(this.fixture.c2sPort, this.address);
    raw.header(DOMAIN);
    await raw.waitFor(/<\/stream:features>/);
    raw.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await raw.waitFor(/<proceed /);
    await raw.startTls({ servername: DOMAIN, ca: this.fixture.ca });
    raw.header(DOMAIN);
    await raw.waitFor(/<\/stream:features>/);
    await raw.take(/.*/);
    this.raw = raw;
    return raw;
  }
}

/** One attempt on a fresh stream from `address`. */
async function once(fixture: XmppFixture, address: string, username: string, password: string) {
  const guesser = new Guesser(fixture, address);
  try {
    return await guesser.attempt(username, password);
  } finally {
    guesser.close();
  }
}

describe('password guessing over SASL', () => {
  it('the documented numbers', () => {
    expect(DEFAULT_GUESSING.passwords.limits).toEqual({
      windowMs: 3_600_000,
      perPair: 10,
      perTarget: 50,
      perSource: 100,
      knownForMs: 30 * 24 * 3_600_000,
      maxKnownSources: 5,
    });
    expect(DEFAULT_GUESSING.passwords.backoff.freeFailures).toBe(5);
  });

  it('a slow guesser (one wrong password every 250 ms for 150 s) slows himself; the owner logs in every time', async () => {
    const guesser = new Guesser(one, '127.0.0.2');
    const outcomes = new Map<string, number>();
    let ownerLogins = 0;
    for (let i = 1; i <= 600; i++) {
      now += 250;
      const outcome = await guesser.attempt('alice', `guess ${i}`);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      // Every 3 s the owner, from another address (never seen before the first one), logs in.
      if (i % 12 === 0) {
        expect(await once(one, '127.0.0.3', 'alice', 'alice right')).toBe('success');
        ownerLogins++;
      }
    }
    guesser.close();
    expect(ownerLogins).toBe(50);
    // 6 failures at once, 4 more as the back-off allows (1, 2, 4, 8 s), then the pair limit of 10 per hour.
    expect(Object.fromEntries(outcomes)).toEqual({ 'not-authorized': 10, 'temporary-auth-failure': 590 });
    // Even the right password is refused to the guesser's address: the answer tells nothing.
    expect(await once(one, '127.0.0.2', 'alice', 'alice right')).toBe('temporary-auth-failure');
    // An address never seen for alice is still allowed (10 of the 50 failures of the budget are spent).
    expect(await once(one, '127.0.0.4', 'alice', 'alice right')).toBe('success');
  }, 300_000);

  it('a guesser on a few addresses does not lock the account; a distributed one is held to 50 failures per hour', async () => {
    expect(await once(one, '127.0.0.5', 'bob', 'bob right')).toBe('success'); // bob's own address, now known
    const failures = async (fixture: XmppFixture, address: string, count: number) => {
      const results: string[] = [];
      for (let i = 0; i < count; i++) {
        now += 60_000; // past any back-off
        results.push(await once(fixture, address, 'bob', `guess ${address} ${i}`));
      }
      return results;
    };
    // Four addresses, each until its pair limit: 40 failures, on both message servers.
    for (const [i, address] of ['127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.4'].entries()) {
      const fixture = i % 2 === 0 ? one : two;
      expect(await failures(fixture, address, 11)).toEqual([
        ...Array<string>(10).fill('not-authorized'),
        'temporary-auth-failure',
      ]);
    }
    expect(await once(two, '127.0.2.1', 'bob', 'bob right')).toBe('success'); // a new address: allowed
    // Ten more addresses, one failure each, spend the rest of the budget: 50 in the window.
    for (let i = 1; i <= 10; i++) {
      expect(await once(i % 2 ? one : two, `127.0.3.${i}`, 'bob', 'wrong')).toBe('not-authorized');
    }
    // Now any address not known for bob is refused, the right password too, on either server.
    expect(await once(one, '127.0.3.11', 'bob', 'wrong')).toBe('temporary-auth-failure');
    expect(await once(two, '127.0.3.12', 'bob', 'bob right')).toBe('temporary-auth-failure');
    // Bob's known addresses still get in; other accounts are untouched.
    expect(await once(two, '127.0.0.5', 'bob', 'bob right')).toBe('success');
    expect(await once(one, '127.0.2.1', 'bob', 'bob right')).toBe('success');
    expect(await once(two, '127.0.3.13', 'carol', 'carol right')).toBe('success');
    // An hour after the last failure the window has moved on.
    now += 3_600_000;
    expect(await once(one, '127.0.3.14', 'bob', 'bob right')).toBe('success');
  }, 300_000);

  it('SCRAM over TCP and over WebSocket is counted and refused the same way as PLAIN', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 11; i++) {
      now += 60_000; // past any back-off
      outcomes.push(await scram(i % 2 ? one : two, i % 2 ? 'tcp' : 'websocket', 'dave', `guess ${i}`));
    }
    expect(outcomes).toEqual([...Array<string>(10).fill('not-authorized'), 'temporary-auth-failure']);
    expect(await scram(one, 'tcp', 'dave', 'dave right')).toBe('temporary-auth-failure');
    expect(await scram(two, 'websocket', 'dave', 'dave right')).toBe('temporary-auth-failure');
    expect(await once(two, '127.0.0.6', 'dave', 'dave right')).toBe('success');
  }, 300_000);
});
