/**
 * XEP-0191 Blocking Command (decision 0025): the blocklist read, changed and pushed to the resources that read it,
 * stored in the database, and enforced on top of the relationship rule — stanzas from a blocked JID not delivered
 * (messages and iqs answered service-unavailable, presence dropped), stanzas to it refused with not-acceptable and
 * <blocked/>, unavailable presence to it when blocked and current presence again when unblocked; hostile requests
 * (malformed JIDs, blocking oneself, too many JIDs) refused with nothing stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import { form } from '../../../test/support/irsp.js';
import { XmppClients } from './clients.js';
import { DOMAIN, accountServerAuth, startXmppMessageServer, type XmppFixture } from './fixture.js';

const BLOCKING = 'urn:xmpp:blocking';
const alice = `alice@${DOMAIN}`;
const bob = `bob@${DOMAIN}`;
const carol = `carol@${DOMAIN}`;

let fixture: XmppFixture;
const clients = new XmppClients(() => fixture);
let phone: Client;
let laptop: Client;
let tablet: Client;
let bobR: Client;
let carolR: Client;

beforeAll(async () => {
  fixture = await startXmppMessageServer();
  for (const name of ['alice', 'bob', 'carol']) await fixture.register(name, `${name} pw`);
  for (const [x, y] of [
    ['alice', bob],
    ['bob', alice],
    ['alice', carol],
    ['carol', alice],
  ])
    await fixture.db.query(`INSERT INTO roster (owner, contact, subscription) VALUES ($1, $2, 'both')`, [
      x,
      y,
    ]);
  phone = await clients.login('alice', 'phone');
  laptop = await clients.login('alice', 'laptop');
  tablet = await clients.login('alice', 'tablet');
  bobR = await clients.login('bob', 'r');
  carolR = await clients.login('carol', 'r');
  for (const client of [phone, laptop, tablet, bobR, carolR]) await client.send(xml('presence'));
  for (const resource of ['phone', 'laptop', 'tablet'])
    await clients.received(
      bobR,
      (s) => s.is('presence') && s.attrs.from === `${alice}/${resource}` && !s.attrs.type,
    );
});

/** What the set-up's presence exchange left in the inboxes is read and dropped: each test looks at what follows. */
beforeAll(async () => {
  for (const client of [phone, laptop, tablet, bobR, carolR]) {
    await settled(client);
    clients.inbox(client).splice(0);
  }
});

afterAll(async () => {
  for (const client of [phone, laptop, tablet, bobR, carolR]) await client?.stop().catch(() => undefined);
  await fixture?.close();
});

/** The answer to an iq `client` sends with `id`, as text. */
async function ask(client: Client, id: string, type: 'get' | 'set', payload: ReturnType<typeof xml>) {
  await client.send(xml('iq', { type, id }, payload));
  return (await clients.received(client, (s) => s.is('iq') && s.attrs.id === id)).toString();
}

const items = (...jids: string[]) => jids.map((jid) => xml('item', { jid }));
const error = (to: string, id: string, type: string, condition: string, text?: string, from = DOMAIN) =>
  `<iq to="${to}" id="${id}" type="error" from="${from}"><error type="${type}"><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>${
    text === undefined ? '' : `<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">${text}</text>`
  }</error></iq>`;
const pushOf = (name: string) => (s: XmlElement) =>
  s.is('iq') && s.attrs.type === 'set' && !!s.getChild(name, BLOCKING);

/** Everything sent to `client` before now has arrived (a ping answered after it). */
async function settled(client: Client): Promise<void> {
  await client.iqCaller.request(xml('iq', { type: 'get' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
}

describe('XEP-0191 blocking command', () => {
  it('an empty blocklist; reading it asks for pushes', async () => {
    for (const [client, id] of [
      [phone, 'l1'],
      [laptop, 'l2'],
    ] as const)
      expect(await ask(client, id, 'get', xml('blocklist', { xmlns: BLOCKING }))).toBe(
        `<iq type="result" id="${id}" to="${client.jid!.toString()}"><blocklist xmlns="${BLOCKING}"/></iq>`,
      );
  });

  it('hostile requests are refused and nothing is stored', async () => {
    const to = `${alice}/phone`;
    expect(await ask(phone, 'h1', 'set', xml('block', { xmlns: BLOCKING }))).toBe(
      error(to, 'h1', 'modify', 'bad-request'),
    );
    for (const [id, jid] of [
      ['h2', 'bob@@as1.irsp.test'],
      ['h3', '@as1.irsp.test'],
      ['h4', 'bob@'],
      ['h5', `bob@${DOMAIN}/`],
      ['h6', 'a'.repeat(1100) + '@x.test'],
    ] as const)
      expect(await ask(phone, id, 'set', xml('block', { xmlns: BLOCKING }, ...items(jid)))).toBe(
        error(to, id, 'modify', 'jid-malformed', 'each item needs a valid jid attribute'),
      );
    expect(await ask(phone, 'h7', 'set', xml('block', { xmlns: BLOCKING }, xml('item', {})))).toBe(
      error(to, 'h7', 'modify', 'jid-malformed', 'each item needs a valid jid attribute'),
    );
    expect(await ask(phone, 'h8', 'set', xml('block', { xmlns: BLOCKING }, xml('jid', { jid: bob })))).toBe(
      error(to, 'h8', 'modify', 'jid-malformed', 'each item needs a valid jid attribute'),
    );
    for (const [id, jid] of [
      ['h9', alice],
      ['h10', `${alice}/laptop`],
      ['h11', `ALICE@${DOMAIN.toUpperCase()}`],
    ] as const)
      expect(await ask(phone, id, 'set', xml('block', { xmlns: BLOCKING }, ...items(bob, jid)))).toBe(
        error(to, id, 'modify', 'not-acceptable', 'an account cannot block itself'),
      );
    const tooMany = Array.from({ length: 1001 }, (_, i) => `spam${i}@spam.example`);
    expect(await ask(phone, 'h12', 'set', xml('block', { xmlns: BLOCKING }, ...items(...tooMany)))).toBe(
      error(to, 'h12', 'cancel', 'not-acceptable', 'a blocklist holds at most 1000 JIDs'),
    );
    expect(await ask(phone, 'h13', 'set', xml('blocklist', { xmlns: BLOCKING }))).toBe(
      error(to, 'h13', 'modify', 'bad-request'),
    );
    expect(await ask(phone, 'h14', 'get', xml('block', { xmlns: BLOCKING }, ...items(bob)))).toBe(
      error(to, 'h14', 'modify', 'bad-request'),
    );
    expect((await fixture.db.query('SELECT jid FROM blocklist')).rows).toEqual([]);
    await settled(laptop);
    expect(clients.inbox(laptop).filter(pushOf('block'))).toEqual([]);
  });

  it('blocking a related contact: pushed to the resources that read the list, and the contact sees them go', async () => {
    expect(await ask(phone, 'b1', 'set', xml('block', { xmlns: BLOCKING }, ...items(bob)))).toBe(
      `<iq type="result" id="b1" to="${alice}/phone"/>`,
    );
    for (const client of [phone, laptop]) {
      const push = await clients.received(client, pushOf('block'));
      expect(push.getChild('block', BLOCKING)!.toString()).toBe(
        `<block xmlns="${BLOCKING}"><item jid="${bob}"/></block>`,
      );
      expect(push.attrs.to).toBe(client.jid!.toString());
    }
    for (const resource of ['phone', 'laptop', 'tablet'])
      await clients.received(
        bobR,
        (s) => s.toString() === `<presence type="unavailable" from="${alice}/${resource}" to="${bob}/r"/>`,
      );
    await settled(tablet);
    expect(clients.inbox(tablet).filter(pushOf('block'))).toEqual([]);
    expect((await fixture.db.query('SELECT owner, jid FROM blocklist')).rows).toEqual([
      { owner: 'alice', jid: bob },
    ]);
    expect(await ask(tablet, 'l3', 'get', xml('blocklist', { xmlns: BLOCKING }))).toBe(
      `<iq type="result" id="l3" to="${alice}/tablet"><blocklist xmlns="${BLOCKING}"><item jid="${bob}"/></blocklist></iq>`,
    );
  });

  it('stanzas from the blocked contact: messages and iqs answered service-unavailable, presence dropped', async () => {
    await bobR.send(xml('message', { to: `${alice}/phone`, id: 'm1', type: 'chat' }, xml('body', {}, 'hi')));
    expect((await clients.received(bobR, (s) => s.attrs.id === 'm1')).toString()).toBe(
      `<message from="${alice}/phone" to="${bob}/r" id="m1" type="error"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>`,
    );
    await bobR.send(
      xml(
        'iq',
        { to: `${alice}/phone`, id: 'i1', type: 'get' },
        xml('query', { xmlns: 'jabber:iq:version' }),
      ),
    );
    expect((await clients.received(bobR, (s) => s.attrs.id === 'i1')).toString()).toBe(
      `<iq from="${alice}/phone" to="${bob}/r" id="i1" type="error"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
    );
    await bobR.send(xml('presence', {}, xml('status', {}, 'still here')));
    await bobR.send(xml('presence', { to: alice, type: 'subscribe' }));
    await settled(phone);
    await settled(bobR);
    expect(
      clients
        .inbox(phone)
        .filter((s) => s.attrs.from?.startsWith(bob))
        .map(String),
    ).toEqual([]);
  });

  it('stanzas to the blocked contact: not-acceptable with <blocked/>; presence does not reach it', async () => {
    await phone.send(xml('message', { to: bob, id: 'm2', type: 'chat' }, xml('body', {}, 'hi')));
    expect((await clients.received(phone, (s) => s.attrs.id === 'm2')).toString()).toBe(
      `<message from="${bob}" to="${alice}/phone" id="m2" type="error"><error type="cancel"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><blocked xmlns="urn:xmpp:blocking:errors"/></error></message>`,
    );
    await phone.send(
      xml('iq', { to: `${bob}/r`, id: 'i2', type: 'get' }, xml('ping', { xmlns: 'urn:xmpp:ping' })),
    );
    expect((await clients.received(phone, (s) => s.attrs.id === 'i2')).toString()).toBe(
      `<iq from="${bob}/r" to="${alice}/phone" id="i2" type="error"><error type="cancel"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><blocked xmlns="urn:xmpp:blocking:errors"/></error></iq>`,
    );
    await phone.send(xml('presence', {}, xml('status', {}, 'busy')));
    await clients.received(carolR, (s) => s.is('presence') && s.getChildText('status') === 'busy');
    await settled(bobR);
    expect(
      clients
        .inbox(bobR)
        .filter((s) => s.attrs.from?.startsWith(alice))
        .map(String),
    ).toEqual([]);
  });

  it('unblocking: pushed, the contact sees current presence again, and messages pass', async () => {
    expect(await ask(laptop, 'u1', 'set', xml('unblock', { xmlns: BLOCKING }, ...items(bob)))).toBe(
      `<iq type="result" id="u1" to="${alice}/laptop"/>`,
    );
    for (const client of [phone, laptop, tablet]) {
      const push = await clients.received(client, pushOf('unblock'));
      expect(push.getChild('unblock', BLOCKING)!.toString()).toBe(
        `<unblock xmlns="${BLOCKING}"><item jid="${bob}"/></unblock>`,
      );
    }
    await clients.received(
      bobR,
      (s) => s.is('presence') && s.attrs.from === `${alice}/phone` && s.getChildText('status') === 'busy',
    );
    await clients.received(phone, (s) => s.is('presence') && s.attrs.from === `${bob}/r` && !s.attrs.type);
    await clients.messageArrives(bobR, phone, 'back again');
    await clients.messageArrives(phone, bobR, 'welcome back');
    expect((await fixture.db.query('SELECT jid FROM blocklist')).rows).toEqual([]);
  });

  it('a full JID blocks that resource only; unblock with no item unblocks every JID', async () => {
    const dining = await clients.login('carol', 'dining');
    await ask(phone, 'b2', 'set', xml('block', { xmlns: BLOCKING }, ...items(`${carol}/r`, 'spam.example')));
    await clients.received(
      carolR,
      (s) => s.toString() === `<presence type="unavailable" from="${alice}/phone" to="${carol}/r"/>`,
    );
    await carolR.send(xml('message', { to: `${alice}/phone`, id: 'm3', type: 'chat' }, xml('body', {}, 'x')));
    expect((await clients.received(carolR, (s) => s.attrs.id === 'm3')).attrs.type).toBe('error');
    await clients.messageArrives(dining, phone, 'from the dining room');
    expect(await ask(phone, 'u2', 'set', xml('unblock', { xmlns: BLOCKING }))).toBe(
      `<iq type="result" id="u2" to="${alice}/phone"/>`,
    );
    const push = await clients.received(laptop, pushOf('unblock'));
    expect(push.getChild('unblock', BLOCKING)!.toString()).toBe(`<unblock xmlns="${BLOCKING}"/>`);
    await clients.messageArrives(carolR, phone, 'unblocked');
    await dining.stop();
  });

  it('goes with the account (Message 5)', async () => {
    await ask(phone, 'b3', 'set', xml('block', { xmlns: BLOCKING }, ...items('spam.example')));
    const answer = await fixture.http.post(
      `${fixture.base}/user/remove`,
      form({ ...accountServerAuth, name: 'alice' }),
    );
    expect(answer.status).toBe(200);
    expect((await fixture.db.query('SELECT jid FROM blocklist')).rows).toEqual([]);
  });
});
