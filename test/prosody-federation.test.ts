/**
 * Our message server federating with a real Prosody 0.12 as another AS (clause 8.5, issue "federation"):
 * subscriptions, presence and messages both ways between an IRSP user and a Prosody user, each on its own server,
 * over s2s with dialback in both directions (neither trusts the other's CA).
 *
 * Prosody dials port 5269 at the address its resolver gives, so this file owns 127.0.0.54:5269 (our message server)
 * and 127.0.0.55:5269 (Prosody): no other test may use them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import { XmppClients, presence } from '../services/message-server/test/clients.js';
import { startXmppMessageServer, type XmppFixture } from '../services/message-server/test/fixture.js';
import { freePorts, serverTlsFor, tempDir } from './support/irsp.js';
import { startProsody, type Prosody } from './support/prosody.js';
import { trustCaForXmppClients, xmppLogin } from './support/xmpp.js';

const OURS = 'as7.irsp.test';
const OUR_ADDRESS = '127.0.0.54';
const PROSODY = 'partner.test';
const PROSODY_ADDRESS = '127.0.0.55';
const PAT = `pat@${PROSODY}`;

let prosodyDir: Awaited<ReturnType<typeof tempDir>>;
let prosody: Prosody | undefined;
let ours: XmppFixture;
let pat: Client;
let untrustProsody: (() => void) | undefined;
const clients = new XmppClients(() => ours);
const patInbox: XmlElement[] = [];

async function patReceived(match: (s: XmlElement) => boolean, what: string): Promise<XmlElement> {
  const end = Date.now() + 15_000;
  for (;;) {
    const found = patInbox.find(match);
    if (found) {
      patInbox.splice(patInbox.indexOf(found), 1);
      return found;
    }
    if (Date.now() > end)
      throw new Error(`pat never got ${what}\nprosody log:\n${(await prosody?.log())?.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The roster push pat gets when Prosody records `subscription` with `jid`. */
async function patRosterItem(jid: string, subscription: string): Promise<Record<string, string>> {
  const item = (s: XmlElement) => s.getChild('query', 'jabber:iq:roster')?.getChild('item');
  const push = await patReceived(
    (s) =>
      s.is('iq') &&
      s.attrs.type === 'set' &&
      item(s)?.attrs.jid === jid &&
      item(s)?.attrs.subscription === subscription,
    `a roster push of ${jid} with subscription ${subscription}`,
  );
  await pat.send(xml('iq', { type: 'result', id: push.attrs.id }));
  return push.getChild('query', 'jabber:iq:roster')!.getChild('item')!.attrs;
}

beforeAll(async () => {
  prosodyDir = await tempDir('irsp-prosody-ca-');
  const prosodyTls = await serverTlsFor(prosodyDir.path, PROSODY, [PROSODY]);
  const [c2sPort] = await freePorts(1);
  prosody = await startProsody({
    domain: PROSODY,
    address: PROSODY_ADDRESS,
    c2sPort: c2sPort!,
    tls: prosodyTls,
    hosts: { [PROSODY]: PROSODY_ADDRESS, [OURS]: OUR_ADDRESS },
    users: [{ username: 'pat', password: 'pat password' }],
  });
  ours = await startXmppMessageServer({
    domain: OURS,
    xmppHost: OUR_ADDRESS,
    s2sPort: 5269,
    federation: { routes: { [PROSODY]: [{ host: PROSODY_ADDRESS, port: 5269 }] } },
  });
  await ours.register('alice', 'alice pw');
  await ours.register('bob', 'bob pw');
  for (const name of ['alice', 'bob']) await (await clients.login(name)).send(xml('presence'));
  // Trusted for Prosody's c2s only once ours are connected: the test CA patches do not stack.
  untrustProsody = trustCaForXmppClients(prosodyTls.ca);
  pat = await xmppLogin({
    port: c2sPort!,
    domain: PROSODY,
    username: 'pat',
    password: 'pat password',
    resource: 'desk',
  });
  pat.on('stanza', (s: XmlElement) => patInbox.push(s));
  // An interested resource (RFC 6121 §2.1.6): Prosody pushes roster changes only after a roster get.
  await pat.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await pat.send(xml('presence'));
}, 60_000);

afterAll(async () => {
  await pat?.stop().catch(() => undefined);
  await clients.stopAll();
  untrustProsody?.();
  await ours?.close();
  await prosody?.stop();
  await prosodyDir?.remove();
});

describe('an IRSP user and a Prosody user (another AS)', () => {
  it('are blocked from each other before they are related', async () => {
    await clients.messageRefused(clients.get('alice'), PAT, 'before');
  });

  it('alice asks, pat approves, pat asks back: related once both directions are granted (decision 0026)', async () => {
    const alice = clients.get('alice');
    await alice.send(xml('presence', { to: PAT, type: 'subscribe' }));
    expect(await clients.pushedItem(alice, PAT)).toEqual({
      jid: PAT,
      subscription: 'none',
      ask: 'subscribe',
    });
    await patReceived(presence('subscribe', `alice@${OURS}`), 'the subscription request');
    await pat.send(xml('presence', { to: `alice@${OURS}`, type: 'subscribed' }));
    // Prosody keeps RFC 6121's one direction per approval: pat's roster says alice may see pat, and ours the same.
    expect(await clients.pushedItem(alice, PAT)).toEqual({ jid: PAT, subscription: 'to' });
    expect(await patRosterItem(`alice@${OURS}`, 'from')).toMatchObject({ jid: `alice@${OURS}` });
    // Pat's client adds alice back: alice's own request approves it, and the pair is related.
    await pat.send(xml('presence', { to: `alice@${OURS}`, type: 'subscribe' }));
    expect(await clients.pushedItem(alice, PAT)).toEqual({ jid: PAT, subscription: 'both' });
    expect(await patRosterItem(`alice@${OURS}`, 'both')).toMatchObject({ jid: `alice@${OURS}` });
  });

  it('presence crosses both ways', async () => {
    const alice = clients.get('alice');
    await pat.send(xml('presence', {}, xml('status', {}, 'at the desk')));
    await clients.received(
      alice,
      (s) => s.is('presence') && s.attrs.from === `${PAT}/desk` && s.getChildText('status') === 'at the desk',
    );
    await alice.send(xml('presence', {}, xml('status', {}, 'on the phone')));
    await patReceived(
      (s) =>
        s.is('presence') && s.attrs.from === `alice@${OURS}/r` && s.getChildText('status') === 'on the phone',
      "alice's presence",
    );
  });

  it('messages cross both ways', async () => {
    const alice = clients.get('alice');
    await alice.send(
      xml('message', { to: `${PAT}/desk`, type: 'chat', id: 'a1' }, xml('body', {}, 'hello from the IRSP')),
    );
    const atPat = await patReceived(
      (s) => s.is('message') && s.getChildText('body') === 'hello from the IRSP',
      'the message',
    );
    expect(atPat.attrs).toMatchObject({ from: `alice@${OURS}/r`, to: `${PAT}/desk`, type: 'chat', id: 'a1' });
    await pat.send(
      xml('message', { to: `alice@${OURS}`, type: 'chat', id: 'p1' }, xml('body', {}, 'hello from Prosody')),
    );
    const atAlice = await clients.received(
      alice,
      (s) => s.is('message') && s.getChildText('body') === 'hello from Prosody',
    );
    expect(atAlice.attrs).toMatchObject({ from: `${PAT}/desk`, to: `alice@${OURS}`, type: 'chat', id: 'p1' });
  });

  it('pat asks bob: the request waits for bob, who approves; then they talk', async () => {
    const bob = clients.get('bob');
    await pat.send(xml('presence', { to: `bob@${OURS}`, type: 'subscribe' }));
    await clients.received(bob, presence('subscribe', PAT));
    await bob.send(xml('presence', { to: PAT, type: 'subscribed' }));
    // Bob grants pat's direction and asks back for his, as a plain RFC 6121 server needs; pat approves it.
    expect(await clients.pushedItem(bob, PAT)).toEqual({ jid: PAT, subscription: 'from', ask: 'subscribe' });
    expect(await patRosterItem(`bob@${OURS}`, 'to')).toMatchObject({ jid: `bob@${OURS}` });
    await patReceived(presence('subscribe', `bob@${OURS}`), 'the request back');
    await pat.send(xml('presence', { to: `bob@${OURS}`, type: 'subscribed' }));
    expect(await patRosterItem(`bob@${OURS}`, 'both')).toMatchObject({ jid: `bob@${OURS}` });
    expect(await clients.pushedItem(bob, PAT)).toEqual({ jid: PAT, subscription: 'both' });
    await pat.send(xml('message', { to: `bob@${OURS}`, type: 'chat' }, xml('body', {}, 'hi bob')));
    await clients.received(bob, (s) => s.is('message') && s.getChildText('body') === 'hi bob');
  });

  it('alice releases pat: both sides end it, and she is blocked again', async () => {
    const alice = clients.get('alice');
    await alice.iqCaller.request(
      xml(
        'iq',
        { type: 'set' },
        xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: PAT, subscription: 'remove' })),
      ),
    );
    expect(await clients.pushedItem(alice, PAT)).toEqual({ jid: PAT, subscription: 'remove' });
    await patReceived(presence('unavailable', `alice@${OURS}`), "alice's unavailable presence");
    await clients.messageRefused(alice, PAT, 'after');
    // A message from pat is refused on our side now: pat gets an error back over s2s.
    await pat.send(
      xml('message', { to: `alice@${OURS}`, type: 'chat', id: 'p2' }, xml('body', {}, 'still there?')),
    );
    const error = await patReceived((s) => s.is('message') && s.attrs.id === 'p2', 'the refusal');
    expect(error.attrs.type).toBe('error');
    expect(error.getChild('error')?.getChild('service-unavailable')).toBeDefined();
  });
});
