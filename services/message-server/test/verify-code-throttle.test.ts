/**
 * Guessing a device's verification code (14543-5-8 §10; docs/decisions/0010-guessing-throttle.md) with the default
 * limits and a fake clock, on two message servers of one AS sharing one database: wrong codes are answered
 * not-authorized until the throttle refuses — per requester, per requester and device, per device — with a wait
 * error a client can tell apart; the right code is then refused too; the device and its owner are told of each
 * wrong code, at once when online, stored offline otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import { DEFAULT_GUESSING } from '@irsp/config';
import { openTestDb, type Db } from '@irsp/store';
import { tempDir } from '../../../test/support/irsp.js';
import { XmppClients } from './clients.js';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';

const start = Date.UTC(2026, 11, 7, 3, 0, 0);
let now = start;
let db: Db;
let dir: Awaited<ReturnType<typeof tempDir>>;
let one: XmppFixture;
let two: XmppFixture;
let onOne: XmppClients;
let onTwo: XmppClients;

const LOCK = '#lock1@as1.irsp.test';
const CODE = '4821';

beforeAll(async () => {
  db = await openTestDb('msvcthrottle');
  dir = await tempDir();
  one = await startXmppMessageServer({ db, tlsDir: dir.path, now: () => now });
  two = await startXmppMessageServer({ db, tlsDir: dir.path, now: () => now });
  onOne = new XmppClients(() => one);
  onTwo = new XmppClients(() => two);
  for (const name of ['alice', 'eve', 'mallory', 'trent']) await one.register(name, `${name} pw`);
  await one.register('#lock1', 'lock pw', { verifycode: CODE });
}, 120_000);

afterAll(async () => {
  await onOne?.stopAll();
  await onTwo?.stopAll();
  await one?.close();
  await two?.close();
  await db?.close();
  await dir?.remove();
});

let id = 0;
/** A subscription request to the lock with `code`; the answer, or undefined for the binding (a roster push). */
async function present(clients: XmppClients, client: Client, code: string): Promise<XmlElement> {
  const requestId = `vc${++id}`;
  await client.send(
    xml(
      'presence',
      { to: LOCK, type: 'subscribe', id: requestId },
      xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, code),
    ),
  );
  return clients.received(client, (s) => s.is('presence') && s.attrs.id === requestId, 15_000);
}

const wrongCode = (to: string, requestId: string) =>
  `<presence from="${LOCK}" to="${to}" id="${requestId}" type="error"><error type="auth">` +
  `<not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></presence>`;
const throttled = (to: string, requestId: string, seconds: number) =>
  `<presence from="${LOCK}" to="${to}" id="${requestId}" type="error"><error type="wait">` +
  `<policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
  `<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">too many wrong verification codes: try again in ${seconds} s</text>` +
  `<retry xmlns="urn:irsp:verifycode:0" after="${seconds}"/></error></presence>`;
const notice = (to: string, requester: string, failures: number) =>
  `<message type="normal" from="as1.irsp.test" to="${to}" id="ID"><body>A wrong verification code for ${LOCK} ` +
  `came from ${requester} (${failures} of 10 allowed per hour).</body><failed xmlns="urn:irsp:verifycode:0" ` +
  `device="${LOCK}" requester="${requester}" failures="${failures}" limit="10"/></message>`;
/** The notice's id aside (a counter), and with one quoting of attributes (stored text is as our server writes it). */
const withoutId = (s: XmlElement | string) =>
  String(s)
    .replace(/'/g, '"')
    .replace(/ id="verifycode-\d+"/, ' id="ID"');

describe('guessing a verification code', () => {
  it('the documented numbers', () => {
    expect(DEFAULT_GUESSING.verifyCodes.limits).toEqual({
      windowMs: 3_600_000,
      perPair: 5,
      perTarget: 10,
      perSource: 20,
      knownForMs: 0,
      maxKnownSources: 0,
    });
    expect(DEFAULT_GUESSING.verifyCodes.backoff.freeFailures).toBe(3);
  });

  it('300 wrong codes in one stream: 4 are tried, the rest refused with a wait error; the right one too', async () => {
    const alice = await onOne.login('alice');
    await onOne.bindWithCode(alice, '#lock1', CODE); // alice owns the lock
    const eve = await onOne.login('eve', 'a');
    const answers: string[] = [];
    for (let i = 0; i < 300; i++) answers.push(String(await present(onOne, eve, `${1000 + i}`)));
    const first = id - 299;
    expect(answers).toEqual([
      ...[0, 1, 2, 3].map((i) => wrongCode('eve@as1.irsp.test/a', `vc${first + i}`)),
      ...Array.from({ length: 296 }, (_, i) => throttled('eve@as1.irsp.test/a', `vc${first + 4 + i}`, 1)),
    ]);
    expect(String(await present(onOne, eve, CODE))).toBe(throttled('eve@as1.irsp.test/a', `vc${id}`, 1));
    // The owner, online, was told of each of the 4 wrong codes.
    for (let n = 1; n <= 4; n++) {
      const told = await onOne.received(alice, (s) => s.is('message') && s.attrs.from === 'as1.irsp.test');
      expect(withoutId(told)).toBe(notice('alice@as1.irsp.test', 'eve@as1.irsp.test', n));
    }
  }, 300_000);

  it('the throttle holds across streams and message servers: per requester and device, then per device', async () => {
    // eve on the other message server, another stream: her fifth wrong code is her last for this lock.
    const eve = await onTwo.login('eve', 'b');
    now += 60_000;
    expect(String(await present(onTwo, eve, '1'))).toBe(wrongCode('eve@as1.irsp.test/b', `vc${id}`));
    now += 60_000;
    // Refused until an hour after her first wrong code, 120 s ago; the right code as well.
    expect(String(await present(onTwo, eve, '2'))).toBe(throttled('eve@as1.irsp.test/b', `vc${id}`, 3_480));
    expect(String(await present(onTwo, eve, CODE))).toBe(throttled('eve@as1.irsp.test/b', `vc${id}`, 3_480));
    // mallory spends the rest of the lock's 10 per hour; then nobody new may try, not even with the right code.
    const mallory = await onTwo.login('mallory');
    for (let i = 0; i < 5; i++) {
      now += 60_000;
      expect(String(await present(onTwo, mallory, `${i}`))).toBe(
        wrongCode('mallory@as1.irsp.test/r', `vc${id}`),
      );
    }
    const trent = await onOne.login('trent');
    const left = 3_600 - (now - start) / 1_000;
    expect(String(await present(onOne, trent, CODE))).toBe(
      throttled('trent@as1.irsp.test/r', `vc${id}`, left),
    );
    // An hour after the first wrong code the window has moved on: trent's right code binds the lock.
    now = start + 3_600_000 + 1;
    await onOne.bindWithCode(trent, '#lock1', CODE);
  }, 300_000);

  it('wrong codes tried where the owner is not online, and every one for the offline lock, were stored', async () => {
    const stored = await db.query<{ owner: string; stanza: string }>(
      `SELECT owner, stanza FROM offline_messages ORDER BY id`,
    );
    const byOwner = (owner: string) =>
      stored.rows.filter((r) => r.owner === owner).map((r) => withoutId(r.stanza));
    // alice is online on the first server only: the 6 wrong codes tried on the second were stored for her.
    expect(byOwner('alice')).toEqual([
      notice('alice@as1.irsp.test', 'eve@as1.irsp.test', 5),
      ...[6, 7, 8, 9, 10].map((n) => notice('alice@as1.irsp.test', 'mallory@as1.irsp.test', n)),
    ]);
    expect(byOwner('#lock1')).toEqual([
      ...[1, 2, 3, 4, 5].map((n) => notice(LOCK, 'eve@as1.irsp.test', n)),
      ...[6, 7, 8, 9, 10].map((n) => notice(LOCK, 'mallory@as1.irsp.test', n)),
    ]);
  });

  it('a weak new code is accepted (the standard sets no strength) and the operator warned, the code not logged', async () => {
    const alice = onOne.get('alice');
    const result = await alice.iqCaller.request(
      xml('iq', { type: 'set' }, xml('verifycode', { xmlns: 'urn:irsp:verifycode:0', device: LOCK }, 'zq7')),
    );
    expect(result.attrs.type).toBe('result');
    const warnings = one.log.lines.filter((l) => l.includes('weak verification code'));
    expect(warnings.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([
      {
        level: 40,
        device: '#lock1',
        msg: 'weak verification code (fewer than 20 bits): guessing it is held only by the throttle',
      },
    ]);
    expect(one.log.lines.filter((l) => l.includes('zq7'))).toEqual([]);
  });
});
