/**
 * RFC 6121 subscriptions between our users and a real Prosody 0.12's (issue 16, docs/decisions/0026): every
 * transition of docs/decisions/0026's table, with the exact roster items on both sides (our pushes, Prosody's
 * pushes and its roster as its user queries it) and the exact subscription stanzas each side receives. Our side
 * relates a pair only when both directions are granted, and sends Prosody's user nothing it did not request.
 *
 * Prosody dials port 5269 at the address its resolver gives, so this file owns 127.0.0.58:5269 (our message server)
 * and 127.0.0.59:5269 (Prosody): no other test may use them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import { startXmppMessageServer, type XmppFixture } from '../services/message-server/test/fixture.js';
import { freePorts, serverTlsFor, tempDir } from './support/irsp.js';
import { startProsody, type Prosody } from './support/prosody.js';
import { trustCaForXmppClients, xmppLogin, XmppInbox } from './support/xmpp.js';

const OURS = 'as9.irsp.test';
const OUR_ADDRESS = '127.0.0.58';
const PROSODY = 'plain.test';
const PROSODY_ADDRESS = '127.0.0.59';
const ROSTER = 'jabber:iq:roster';
const SUBSCRIPTION_TYPES = new Set(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed']);

const PROSODY_USERS = ['pat', 'quinn', 'rae', 'sam', 'tess', 'uma'];
const OUR_USERS = ['alice', 'bob', 'carol', 'dan', 'erin', 'fay'];

let prosodyDir: Awaited<ReturnType<typeof tempDir>>;
let prosody: Prosody | undefined;
let prosodyC2s: number;
let ours: XmppFixture;
let untrustProsody: (() => void) | undefined;
const users = new Map<string, XmppInbox>();

const ourJid = (name: string) => `${name}@${OURS}`;
const theirJid = (name: string) => `${name}@${PROSODY}`;
const user = (name: string) => users.get(name)!;

async function login(name: string): Promise<XmppInbox> {
  const theirs = PROSODY_USERS.includes(name);
  const client: Client = await xmppLogin(
    theirs
      ? { port: prosodyC2s, domain: PROSODY, username: name, password: `${name} pw`, resource: 'r' }
      : {
          port: ours.c2sPort,
          host: ours.xmppHost,
          domain: OURS,
          username: name,
          password: `${name} pw`,
          resource: 'r',
        },
  );
  const inbox = new XmppInbox(client);
  // An interested resource (RFC 6121 §2.1.6): Prosody pushes roster changes only after a roster get.
  await client.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: ROSTER })));
  await client.send(xml('presence'));
  users.set(name, inbox);
  return inbox;
}

/** The roster item about `jid` as `name` reads its roster now, or undefined. */
async function rosterItem(name: string, jid: string): Promise<Record<string, string> | undefined> {
  const result = await user(name).client.iqCaller.request(
    xml('iq', { type: 'get' }, xml('query', { xmlns: ROSTER })),
  );
  const items = result.getChild('query', ROSTER)!.getChildren('item');
  const item = items.find((i) => i.attrs.jid === jid);
  return item ? { ...item.attrs } : undefined;
}

/** `name` sends a subscription stanza of `type` to `to`. */
async function send(name: string, type: string, to: string): Promise<void> {
  await user(name).client.send(xml('presence', { type, to }));
}

/** The next subscription stanza `name` receives from `from`: its type. */
async function nextSubscription(name: string, from: string): Promise<string> {
  const stanza = await user(name).next(
    (s) => s.is('presence') && SUBSCRIPTION_TYPES.has(s.attrs.type ?? '') && s.attrs.from === from,
    15_000,
  );
  return stanza.attrs.type!;
}

/** No subscription stanza from `from` is waiting in `name`'s inbox (what arrived before is taken already). */
function noMoreSubscriptions(name: string, from: string): void {
  const left = user(name).stanzas.filter(
    (s: XmlElement) =>
      s.is('presence') && SUBSCRIPTION_TYPES.has(s.attrs.type ?? '') && s.attrs.from === from,
  );
  expect(left.map(String)).toEqual([]);
}

/** `from` sees `of` available (a presence without type from one of its resources). */
async function seesOnline(from: string, of: string): Promise<void> {
  await user(from).next(
    (s) => s.is('presence') && s.attrs.type === undefined && s.attrs.from?.startsWith(`${of}/`) === true,
    15_000,
  );
}

/** A chat message from `from` to `to`: delivered (its body arrives) or refused on our side. */
async function messageRefused(from: string, to: string, id: string): Promise<void> {
  await user(from).client.send(xml('message', { to, id, type: 'chat' }, xml('body', {}, 'refused?')));
  const error = await user(from).next((s) => s.is('message') && s.attrs.id === id, 15_000);
  expect(error.attrs.type).toBe('error');
  expect(error.getChild('error')?.getChild('service-unavailable')).toBeDefined();
}

async function messageArrives(from: string, to: string, toBare: string, body: string): Promise<void> {
  await user(from).client.send(xml('message', { to: toBare, type: 'chat' }, xml('body', {}, body)));
  await user(to).next((s) => s.is('message') && s.getChildText('body') === body, 15_000);
}

beforeAll(async () => {
  prosodyDir = await tempDir('irsp-prosody-ca-');
  const prosodyTls = await serverTlsFor(prosodyDir.path, PROSODY, [PROSODY]);
  [prosodyC2s] = (await freePorts(1)) as [number];
  prosody = await startProsody({
    domain: PROSODY,
    address: PROSODY_ADDRESS,
    c2sPort: prosodyC2s,
    tls: prosodyTls,
    hosts: { [PROSODY]: PROSODY_ADDRESS, [OURS]: OUR_ADDRESS },
    users: PROSODY_USERS.map((name) => ({ username: name, password: `${name} pw` })),
  });
  ours = await startXmppMessageServer({
    domain: OURS,
    xmppHost: OUR_ADDRESS,
    s2sPort: 5269,
    federation: { routes: { [PROSODY]: [{ host: PROSODY_ADDRESS, port: 5269 }] } },
  });
  for (const name of OUR_USERS) {
    await ours.register(name, `${name} pw`);
    await login(name);
  }
  // Trusted for Prosody's c2s only once ours are connected: the test CA patches do not stack.
  untrustProsody = trustCaForXmppClients(prosodyTls.ca);
  for (const name of PROSODY_USERS) await login(name);
}, 90_000);

afterAll(async () => {
  for (const inbox of users.values()) await inbox.client.stop().catch(() => undefined);
  untrustProsody?.();
  await ours?.close();
  await prosody?.stop();
  await prosodyDir?.remove();
});

describe('our user asks a Prosody user', () => {
  const ALICE = ourJid('alice');
  const PAT = theirJid('pat');

  it('the request is pending out here and pending in there (no roster item yet at Prosody)', async () => {
    await send('alice', 'subscribe', PAT);
    expect(await user('alice').rosterPush(PAT)).toEqual({ jid: PAT, subscription: 'none', ask: 'subscribe' });
    expect(await nextSubscription('pat', ALICE)).toBe('subscribe');
    expect(await rosterItem('pat', ALICE)).toBeUndefined();
  });

  it('a repeated request while pending is forwarded; Prosody keeps the one pending request', async () => {
    await send('alice', 'subscribe', PAT);
    expect(await user('alice').rosterPush(PAT)).toEqual({ jid: PAT, subscription: 'none', ask: 'subscribe' });
    // Pat is not asked twice: the next test finds no second `subscribe` once pat's approval has come back.
  });

  it("pat approves: alice holds 'to', pat 'from' (RFC 6121 §3.1.5–3.1.6); nothing goes back; not related yet", async () => {
    await send('pat', 'subscribed', ALICE);
    expect(await user('pat').rosterPush(ALICE)).toEqual({ jid: ALICE, subscription: 'from' });
    expect(await user('alice').rosterPush(PAT)).toEqual({ jid: PAT, subscription: 'to' });
    expect(await nextSubscription('alice', PAT)).toBe('subscribed');
    // The IRSP rule (a relationship is mutual) is not met: still blocked.
    await messageRefused('alice', PAT, 'a1');
    expect(await rosterItem('alice', PAT)).toEqual({ jid: PAT, subscription: 'to' });
    expect(await rosterItem('pat', ALICE)).toEqual({ jid: ALICE, subscription: 'from' });
    noMoreSubscriptions('pat', ALICE);
  });

  it("pat asks back: alice's own request approves it at once, and the pair is related both ways", async () => {
    await send('pat', 'subscribe', ALICE);
    expect(await user('pat').rosterPush(ALICE)).toEqual({
      jid: ALICE,
      subscription: 'from',
      ask: 'subscribe',
    });
    // Exactly the answer pat requested: one `subscribed`.
    expect(await nextSubscription('pat', ALICE)).toBe('subscribed');
    expect(await user('pat').rosterPush(ALICE)).toEqual({ jid: ALICE, subscription: 'both' });
    expect(await user('alice').rosterPush(PAT)).toEqual({ jid: PAT, subscription: 'both' });
    // Our user is told the relationship is established; pat's request itself was not left waiting for alice.
    expect(await nextSubscription('alice', PAT)).toBe('subscribed');
    await seesOnline('pat', ALICE);
    // Pat's presence, which our side probed for.
    await seesOnline('alice', PAT);
    await messageArrives('alice', 'pat', PAT, 'hello pat');
    await messageArrives('pat', 'alice', ALICE, 'hello alice');
    expect(await rosterItem('pat', ALICE)).toEqual({ jid: ALICE, subscription: 'both' });
    noMoreSubscriptions('pat', ALICE);
    noMoreSubscriptions('alice', PAT);
  });

  it('a repeated request once related is answered `subscribed` by Prosody and changes nothing', async () => {
    await send('alice', 'subscribe', PAT);
    await new Promise((r) => setTimeout(r, 500));
    expect(await rosterItem('alice', PAT)).toEqual({ jid: PAT, subscription: 'both' });
    expect(await rosterItem('pat', ALICE)).toEqual({ jid: ALICE, subscription: 'both' });
  });

  it("pat's next login probes alice, and our side answers with her presence", async () => {
    await user('pat').client.send(xml('presence', { type: 'unavailable' }));
    await user('alice').next(
      (s) => s.is('presence') && s.attrs.type === 'unavailable' && s.attrs.from === `${PAT}/r`,
      15_000,
    );
    await user('pat').client.send(xml('presence'));
    await seesOnline('pat', ALICE);
    await seesOnline('alice', PAT);
  });

  it("pat revokes alice's subscription (unsubscribed): our side ends the relationship and pat's direction too", async () => {
    await send('pat', 'unsubscribed', ALICE);
    expect(await user('pat').rosterPush(ALICE)).toEqual({ jid: ALICE, subscription: 'to' });
    expect(await user('alice').rosterPush(PAT)).toEqual({ jid: PAT, subscription: 'remove' });
    expect(await nextSubscription('pat', ALICE)).toBe('unsubscribed');
    expect(await user('pat').rosterPush(ALICE)).toEqual({ jid: ALICE, subscription: 'none' });
    await user('pat').next(
      (s) => s.is('presence') && s.attrs.type === 'unavailable' && s.attrs.from === `${ALICE}/r`,
    );
    await messageRefused('alice', PAT, 'a2');
    expect(await rosterItem('alice', PAT)).toBeUndefined();
    expect(await rosterItem('pat', ALICE)).toEqual({ jid: ALICE, subscription: 'none' });
    noMoreSubscriptions('alice', PAT);
  });
});

describe('a Prosody user asks our user', () => {
  const BOB = ourJid('bob');
  const QUINN = theirJid('quinn');

  it('the request waits for bob; a repeated one reaches him again', async () => {
    await send('quinn', 'subscribe', BOB);
    expect(await user('quinn').rosterPush(BOB)).toEqual({ jid: BOB, subscription: 'none', ask: 'subscribe' });
    expect(await nextSubscription('bob', QUINN)).toBe('subscribe');
    await send('quinn', 'subscribe', BOB);
    expect(await user('quinn').rosterPush(BOB)).toEqual({ jid: BOB, subscription: 'none', ask: 'subscribe' });
    expect(await nextSubscription('bob', QUINN)).toBe('subscribe');
    expect(await rosterItem('bob', QUINN)).toBeUndefined();
    // A roster get delivers the requests that wait (RFC 6121 §3.1.3), here the one from quinn.
    expect(await nextSubscription('bob', QUINN)).toBe('subscribe');
  });

  it("bob approves: quinn holds 'to'; bob holds 'from' and asks back with a proper request", async () => {
    await send('bob', 'subscribed', QUINN);
    expect(await user('bob').rosterPush(QUINN)).toEqual({
      jid: QUINN,
      subscription: 'from',
      ask: 'subscribe',
    });
    expect(await nextSubscription('quinn', BOB)).toBe('subscribed');
    expect(await nextSubscription('quinn', BOB)).toBe('subscribe');
    expect(await user('quinn').rosterPush(BOB)).toEqual({ jid: BOB, subscription: 'to' });
    // Not related until quinn approves: bob was told nothing on quinn's behalf.
    await messageRefused('bob', QUINN, 'b1');
    noMoreSubscriptions('bob', QUINN);
  });

  it('quinn approves the request back: both hold both, and they are related', async () => {
    await send('quinn', 'subscribed', BOB);
    expect(await user('quinn').rosterPush(BOB)).toEqual({ jid: BOB, subscription: 'both' });
    expect(await user('bob').rosterPush(QUINN)).toEqual({ jid: QUINN, subscription: 'both' });
    expect(await nextSubscription('bob', QUINN)).toBe('subscribed');
    await seesOnline('quinn', BOB);
    await seesOnline('bob', QUINN);
    await messageArrives('quinn', 'bob', BOB, 'hello bob');
    expect(await rosterItem('quinn', BOB)).toEqual({ jid: BOB, subscription: 'both' });
    noMoreSubscriptions('quinn', BOB);
  });

  it("quinn unsubscribes: our side ends the relationship and asks Prosody to end bob's direction", async () => {
    await send('quinn', 'unsubscribe', BOB);
    expect(await user('quinn').rosterPush(BOB)).toEqual({ jid: BOB, subscription: 'from' });
    expect(await user('bob').rosterPush(QUINN)).toEqual({ jid: QUINN, subscription: 'remove' });
    expect(await user('quinn').rosterPush(BOB)).toEqual({ jid: BOB, subscription: 'none' });
    // Our side's own note that quinn is gone to bob (from the bare JID: our side does not track its resources).
    await user('bob').next(
      (s) => s.is('presence') && s.attrs.type === 'unavailable' && s.attrs.from === QUINN,
    );
    await messageRefused('bob', QUINN, 'b2');
    expect(await rosterItem('bob', QUINN)).toBeUndefined();
    expect(await rosterItem('quinn', BOB)).toEqual({ jid: BOB, subscription: 'none' });
    noMoreSubscriptions('bob', QUINN);
  });
});

describe('denials', () => {
  const CAROL = ourJid('carol');
  const RAE = theirJid('rae');

  it("carol denies rae's request: rae's pending request ends, carol keeps no item", async () => {
    await send('rae', 'subscribe', CAROL);
    expect(await user('rae').rosterPush(CAROL)).toEqual({
      jid: CAROL,
      subscription: 'none',
      ask: 'subscribe',
    });
    expect(await nextSubscription('carol', RAE)).toBe('subscribe');
    await send('carol', 'unsubscribed', RAE);
    expect(await nextSubscription('rae', CAROL)).toBe('unsubscribed');
    expect(await user('rae').rosterPush(CAROL)).toEqual({ jid: CAROL, subscription: 'none' });
    expect(await rosterItem('carol', RAE)).toBeUndefined();
  });

  it("rae denies carol's request: carol's item loses its pending mark", async () => {
    await send('carol', 'subscribe', RAE);
    expect(await user('carol').rosterPush(RAE)).toEqual({ jid: RAE, subscription: 'none', ask: 'subscribe' });
    expect(await nextSubscription('rae', CAROL)).toBe('subscribe');
    await send('rae', 'unsubscribed', CAROL);
    expect(await user('carol').rosterPush(RAE)).toEqual({ jid: RAE, subscription: 'none' });
    expect(await nextSubscription('carol', RAE)).toBe('unsubscribed');
    await messageRefused('carol', RAE, 'c1');
  });

  it("carol asks again, rae approves, carol takes it back (unsubscribe): only carol's direction is ended", async () => {
    await send('carol', 'subscribe', RAE);
    expect(await user('carol').rosterPush(RAE)).toEqual({ jid: RAE, subscription: 'none', ask: 'subscribe' });
    expect(await nextSubscription('rae', CAROL)).toBe('subscribe');
    await send('rae', 'subscribed', CAROL);
    expect(await user('carol').rosterPush(RAE)).toEqual({ jid: RAE, subscription: 'to' });
    expect(await nextSubscription('carol', RAE)).toBe('subscribed');
    expect(await user('rae').rosterPush(CAROL)).toEqual({ jid: CAROL, subscription: 'from' });
    await send('carol', 'unsubscribe', RAE);
    expect(await user('carol').rosterPush(RAE)).toEqual({ jid: RAE, subscription: 'remove' });
    expect(await nextSubscription('rae', CAROL)).toBe('unsubscribe');
    expect(await user('rae').rosterPush(CAROL)).toEqual({ jid: CAROL, subscription: 'none' });
    expect(await rosterItem('carol', RAE)).toBeUndefined();
    noMoreSubscriptions('rae', CAROL);
  });

  it("sam asks dan, dan approves, sam refuses the request back: our side ends sam's direction too", async () => {
    const DAN = ourJid('dan');
    const SAM = theirJid('sam');
    await send('sam', 'subscribe', DAN);
    expect(await nextSubscription('dan', SAM)).toBe('subscribe');
    await send('dan', 'subscribed', SAM);
    expect(await user('dan').rosterPush(SAM)).toEqual({ jid: SAM, subscription: 'from', ask: 'subscribe' });
    expect(await nextSubscription('sam', DAN)).toBe('subscribed');
    expect(await nextSubscription('sam', DAN)).toBe('subscribe');
    await send('sam', 'unsubscribed', DAN);
    expect(await user('dan').rosterPush(SAM)).toEqual({ jid: SAM, subscription: 'remove' });
    expect(await nextSubscription('dan', SAM)).toBe('unsubscribed');
    expect(await nextSubscription('sam', DAN)).toBe('unsubscribed');
    await expect
      .poll(() => rosterItem('sam', DAN), { timeout: 15_000 })
      .toEqual({ jid: DAN, subscription: 'none' });
    expect(await rosterItem('dan', SAM)).toBeUndefined();
    await messageRefused('dan', SAM, 'd1');
  });
});

describe('requests that cross, and a release by our user', () => {
  const ERIN = ourJid('erin');
  const TESS = theirJid('tess');

  it('erin and tess ask each other: each request approves the other, and they end related', async () => {
    await send('erin', 'subscribe', TESS);
    expect(await user('erin').rosterPush(TESS)).toEqual({
      jid: TESS,
      subscription: 'none',
      ask: 'subscribe',
    });
    expect(await nextSubscription('tess', ERIN)).toBe('subscribe');
    // Tess asks too (her client's "add contact"), before answering: erin's request stands for erin's approval.
    await send('tess', 'subscribe', ERIN);
    expect(await user('erin').rosterPush(TESS)).toEqual({
      jid: TESS,
      subscription: 'from',
      ask: 'subscribe',
    });
    expect(await nextSubscription('tess', ERIN)).toBe('subscribed');
    await send('tess', 'subscribed', ERIN);
    expect(await user('erin').rosterPush(TESS)).toEqual({ jid: TESS, subscription: 'both' });
    expect(await nextSubscription('erin', TESS)).toBe('subscribed');
    await expect
      .poll(() => rosterItem('tess', ERIN), { timeout: 15_000 })
      .toEqual({ jid: ERIN, subscription: 'both' });
    await seesOnline('erin', TESS);
    await messageArrives('erin', 'tess', TESS, 'hello tess');
    noMoreSubscriptions('tess', ERIN);
  });

  it('erin removes tess from her roster: both directions end there too (RFC 6121 §2.5.2)', async () => {
    await user('erin').client.iqCaller.request(
      xml(
        'iq',
        { type: 'set' },
        xml('query', { xmlns: ROSTER }, xml('item', { jid: TESS, subscription: 'remove' })),
      ),
    );
    expect(await user('erin').rosterPush(TESS)).toEqual({ jid: TESS, subscription: 'remove' });
    expect(await nextSubscription('tess', ERIN)).toBe('unsubscribe');
    expect(await nextSubscription('tess', ERIN)).toBe('unsubscribed');
    await expect
      .poll(() => rosterItem('tess', ERIN), { timeout: 15_000 })
      .toEqual({ jid: ERIN, subscription: 'none' });
    await messageRefused('erin', TESS, 'e1');
  });
});

describe('the remaining one-way transitions', () => {
  const FAY = ourJid('fay');
  const UMA = theirJid('uma');

  it("in 'to', fay's repeated request changes nothing, and uma's unsubscribed ends fay's direction", async () => {
    await send('fay', 'subscribe', UMA);
    expect(await user('fay').rosterPush(UMA)).toEqual({ jid: UMA, subscription: 'none', ask: 'subscribe' });
    expect(await nextSubscription('uma', FAY)).toBe('subscribe');
    await send('uma', 'subscribed', FAY);
    expect(await user('fay').rosterPush(UMA)).toEqual({ jid: UMA, subscription: 'to' });
    expect(await nextSubscription('fay', UMA)).toBe('subscribed');
    expect(await user('uma').rosterPush(FAY)).toEqual({ jid: FAY, subscription: 'from' });
    // Forwarded; Prosody answers `subscribed` itself (uma holds 'from'), which our side ignores: no push, no stanza.
    await send('fay', 'subscribe', UMA);
    // Uma's next step must reach Prosody after that request: a request of fay's to sam, on the same s2s stream
    // behind it, marks when it has.
    await send('fay', 'subscribe', theirJid('sam'));
    expect(await nextSubscription('sam', FAY)).toBe('subscribe');
    await send('uma', 'unsubscribed', FAY);
    expect(await user('uma').rosterPush(FAY)).toEqual({ jid: FAY, subscription: 'none' });
    expect(await user('fay').rosterPush(UMA)).toEqual({ jid: UMA, subscription: 'remove' });
    expect(await nextSubscription('fay', UMA)).toBe('unsubscribed');
    noMoreSubscriptions('fay', UMA);
    noMoreSubscriptions('uma', FAY);
    expect(await user('fay').rosterPush(theirJid('sam'))).toEqual({
      jid: theirJid('sam'),
      subscription: 'none',
      ask: 'subscribe',
    });
  });

  it('uma asks and takes it back (unsubscribe): the request no longer waits for fay', async () => {
    await send('uma', 'subscribe', FAY);
    expect(await user('uma').rosterPush(FAY)).toEqual({ jid: FAY, subscription: 'none', ask: 'subscribe' });
    expect(await nextSubscription('fay', UMA)).toBe('subscribe');
    await send('uma', 'unsubscribe', FAY);
    expect(await user('uma').rosterPush(FAY)).toEqual({ jid: FAY, subscription: 'none' });
    expect(await nextSubscription('fay', UMA)).toBe('unsubscribe');
    // Nothing waits for fay any more (a roster get or her next login would deliver it again).
    expect(
      (await ours.db.query(`SELECT requester FROM subscription_requests WHERE owner = 'fay'`)).rows,
    ).toEqual([]);
    expect(await rosterItem('fay', UMA)).toBeUndefined();
  });

  it("uma asks, fay answers by asking too, uma unsubscribes: fay's request back is withdrawn", async () => {
    await send('uma', 'subscribe', FAY);
    expect(await user('uma').rosterPush(FAY)).toEqual({ jid: FAY, subscription: 'none', ask: 'subscribe' });
    expect(await nextSubscription('fay', UMA)).toBe('subscribe');
    await send('fay', 'subscribe', UMA);
    expect(await user('fay').rosterPush(UMA)).toEqual({ jid: UMA, subscription: 'from', ask: 'subscribe' });
    expect(await nextSubscription('uma', FAY)).toBe('subscribed');
    expect(await nextSubscription('uma', FAY)).toBe('subscribe');
    expect(await user('uma').rosterPush(FAY)).toEqual({ jid: FAY, subscription: 'to' });
    await send('uma', 'unsubscribe', FAY);
    expect(await user('uma').rosterPush(FAY)).toEqual({ jid: FAY, subscription: 'none' });
    expect(await user('fay').rosterPush(UMA)).toEqual({ jid: UMA, subscription: 'remove' });
    expect(await nextSubscription('fay', UMA)).toBe('unsubscribe');
    expect(await nextSubscription('uma', FAY)).toBe('unsubscribe');
    expect(await rosterItem('uma', FAY)).toEqual({ jid: FAY, subscription: 'none' });
    await messageRefused('fay', UMA, 'f1');
    noMoreSubscriptions('fay', UMA);
  });
});
