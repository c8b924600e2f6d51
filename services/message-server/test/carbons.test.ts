/**
 * XEP-0280 Message Carbons and what the server's discovery says (decision 0025): copies of chats sent and received
 * reach the account's other resources that enabled carbons, wrapped as XEP-0280 §6 says; private, groupchat and
 * refused messages are not copied; disco#info lists exactly the features answered, at the server, at the account's
 * bare JID and at every item of disco#items.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import { XmppClients } from './clients.js';
import { DOMAIN, startXmppMessageServer, type XmppFixture } from './fixture.js';

const CARBONS = 'urn:xmpp:carbons:2';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

let fixture: XmppFixture;
const clients = new XmppClients(() => fixture);
let phone: Client;
let laptop: Client;
let tablet: Client;
let bob: Client;

const alice = `alice@${DOMAIN}`;
const bobJid = `bob@${DOMAIN}`;

beforeAll(async () => {
  fixture = await startXmppMessageServer({
    applicationServers: [
      {
        name: 'smartlock',
        url: 'https://127.0.0.1:1',
        listen: { host: '127.0.0.1', port: 0 },
        jid: `smartlock.${DOMAIN}`,
        credentials: { appid: 'smartlock', token: 'smartlock-token-0123456789' },
        deviceStatus: false,
        serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/x' },
      },
    ],
  });
  for (const name of ['alice', 'bob', 'eve']) await fixture.register(name, `${name} pw`);
  for (const [owner, contact] of [
    ['alice', bobJid],
    ['bob', alice],
  ])
    await fixture.db.query(`INSERT INTO roster (owner, contact, subscription) VALUES ($1, $2, 'both')`, [
      owner,
      contact,
    ]);
  // Logged in one after the other: each client's stanzas are kept from its login on.
  phone = await clients.login('alice', 'phone');
  laptop = await clients.login('alice', 'laptop');
  tablet = await clients.login('alice', 'tablet');
  bob = await clients.login('bob', 'r');
});

afterAll(async () => {
  for (const client of [phone, laptop, tablet, bob]) await client?.stop().catch(() => undefined);
  await fixture?.close();
});

const carbonOf = (direction: 'sent' | 'received', id: string) => (s: XmlElement) =>
  s.is('message') &&
  s.getChild(direction, CARBONS)?.getChild('forwarded', 'urn:xmpp:forward:0')?.getChild('message')?.attrs
    .id === id;

/** A message each of `clients` receives after everything before it (nothing else is pending for them). */
async function flush(...to: Client[]): Promise<void> {
  const id = `flush-${Math.random()}`;
  for (const client of to) {
    await phone.send(
      xml('message', { to: client.jid!.toString(), id, type: 'headline' }, xml('body', {}, id)),
    );
    await clients.received(client, (s) => s.attrs.id === id);
  }
}

describe('XEP-0280 message carbons', () => {
  it('enable and disable are answered; anything else about carbons is bad-request', async () => {
    const answer = await laptop.iqCaller.request(
      xml('iq', { type: 'set', id: 'c1' }, xml('enable', { xmlns: CARBONS })),
    );
    expect(answer.toString()).toBe(`<iq type="result" id="c1" to="${alice}/laptop"/>`);
    await phone.iqCaller.request(xml('iq', { type: 'set' }, xml('enable', { xmlns: CARBONS })));
    await phone.iqCaller.request(xml('iq', { type: 'set' }, xml('disable', { xmlns: CARBONS })));
    await tablet.send(xml('iq', { type: 'get', id: 'c2' }, xml('enable', { xmlns: CARBONS })));
    const error = await clients.received(tablet, (s) => s.attrs.id === 'c2');
    expect(error.toString()).toBe(
      `<iq to="${alice}/tablet" id="c2" type="error" from="${DOMAIN}"><error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
    );
  });

  it('a chat one resource sends reaches the others that enabled carbons as <sent/>', async () => {
    await phone.send(
      xml('message', { to: `${bobJid}/r`, id: 's1', type: 'chat' }, xml('body', {}, 'hi bob')),
    );
    await clients.received(bob, (s) => s.attrs.id === 's1');
    const copy = await clients.received(laptop, carbonOf('sent', 's1'));
    expect(copy.toString()).toBe(
      `<message from="${alice}" type="chat" to="${alice}/laptop"><sent xmlns="${CARBONS}"><forwarded xmlns="urn:xmpp:forward:0"><message to="${bobJid}/r" id="s1" type="chat" from="${alice}/phone" xmlns="jabber:client"><body>hi bob</body></message></forwarded></sent></message>`,
    );
    await flush(tablet, phone);
    expect(clients.inbox(tablet).filter(carbonOf('sent', 's1'))).toEqual([]);
    expect(clients.inbox(phone).filter(carbonOf('sent', 's1'))).toEqual([]);
  });

  it('a chat to one full JID reaches the other resources that enabled carbons as <received/>', async () => {
    await bob.send(xml('message', { to: `${alice}/phone`, id: 'r1', type: 'chat' }, xml('body', {}, 'hi')));
    await clients.received(phone, (s) => s.attrs.id === 'r1');
    const copy = await clients.received(laptop, carbonOf('received', 'r1'));
    expect(copy.toString()).toBe(
      `<message from="${alice}" type="chat" to="${alice}/laptop"><received xmlns="${CARBONS}"><forwarded xmlns="urn:xmpp:forward:0"><message to="${alice}/phone" id="r1" type="chat" from="${bobJid}/r" xmlns="jabber:client"><body>hi</body></message></forwarded></received></message>`,
    );
    await flush(tablet);
    expect(clients.inbox(tablet).filter(carbonOf('received', 'r1'))).toEqual([]);
  });

  it('a message to the bare JID reaches every resource once, with no copy', async () => {
    await bob.send(xml('message', { to: alice, id: 'b1', type: 'chat' }, xml('body', {}, 'to all')));
    for (const client of [phone, laptop, tablet]) await clients.received(client, (s) => s.attrs.id === 'b1');
    await flush(laptop);
    expect(clients.inbox(laptop).filter((s) => s.attrs.id === 'b1' || carbonOf('received', 'b1')(s))).toEqual(
      [],
    );
  });

  it('normal with a body is copied; private, no-copy, groupchat, headline and bodiless normal are not', async () => {
    const send = (id: string, type: string, ...children: ReturnType<typeof xml>[]) =>
      phone.send(xml('message', { to: `${bobJid}/r`, id, type }, ...children));
    await send('n1', 'normal', xml('body', {}, 'a note'));
    await send('p1', 'chat', xml('body', {}, 'secret'), xml('private', { xmlns: CARBONS }));
    await send('p2', 'chat', xml('body', {}, 'secret'), xml('no-copy', { xmlns: 'urn:xmpp:hints' }));
    await send('g1', 'groupchat', xml('body', {}, 'room'));
    await send('h1', 'headline', xml('body', {}, 'news'));
    await send('e1', 'normal', xml('subject', {}, 'no body'));
    // A client cannot make a copy of a copy (XEP-0280 §11).
    await send(
      'f1',
      'chat',
      xml('received', { xmlns: CARBONS }, xml('forwarded', { xmlns: 'urn:xmpp:forward:0' })),
    );
    await clients.received(laptop, carbonOf('sent', 'n1'));
    await flush(laptop);
    const copies = clients
      .inbox(laptop)
      .filter((s) => s.getChild('sent', CARBONS) || s.getChild('received', CARBONS));
    expect(copies.map(String)).toEqual([]);
  });

  it('a refused message is not copied', async () => {
    await phone.send(xml('message', { to: `eve@${DOMAIN}`, id: 'x1', type: 'chat' }, xml('body', {}, 'hey')));
    const error = await clients.received(phone, (s) => s.attrs.id === 'x1');
    expect(error.attrs.type).toBe('error');
    await flush(laptop);
    expect(clients.inbox(laptop).filter(carbonOf('sent', 'x1'))).toEqual([]);
  });

  it('after disable, no more copies', async () => {
    await laptop.iqCaller.request(xml('iq', { type: 'set' }, xml('disable', { xmlns: CARBONS })));
    await phone.send(xml('message', { to: `${bobJid}/r`, id: 'd1', type: 'chat' }, xml('body', {}, 'x')));
    await clients.received(bob, (s) => s.attrs.id === 'd1');
    await flush(laptop);
    expect(clients.inbox(laptop).filter(carbonOf('sent', 'd1'))).toEqual([]);
  });
});

describe('XEP-0030 discovery', () => {
  it("the server's disco#info lists exactly the features it answers", async () => {
    const answer = await phone.iqCaller.request(
      xml('iq', { type: 'get', to: DOMAIN }, xml('query', { xmlns: DISCO_INFO })),
    );
    const query = answer.getChild('query', DISCO_INFO)!;
    expect(query.getChildren('identity').map((i) => i.attrs)).toEqual([
      { category: 'server', type: 'im', name: 'IRSP message server' },
    ]);
    expect(query.getChildren('feature').map((f) => f.attrs.var)).toEqual([
      DISCO_INFO,
      DISCO_ITEMS,
      'urn:xmpp:ping',
      'jabber:iq:roster',
      'urn:irsp:verifycode:0',
      'urn:irsp:access:0',
      CARBONS,
      'jabber:iq:private',
      'urn:xmpp:blocking',
    ]);
  });

  it("the account's bare JID describes the account; PEP there is service-unavailable", async () => {
    const answer = await phone.iqCaller.request(
      xml('iq', { type: 'get', to: alice }, xml('query', { xmlns: DISCO_INFO })),
    );
    expect(answer.getChild('query', DISCO_INFO)!.toString()).toBe(
      `<query xmlns="${DISCO_INFO}"><identity category="account" type="registered"/><feature var="${DISCO_INFO}"/><feature var="${DISCO_ITEMS}"/><feature var="${CARBONS}"/></query>`,
    );
    // A PEP bookmarks read (XEP-0402) as Conversations and Gajim send it.
    await phone.send(
      xml(
        'iq',
        { type: 'get', to: alice, id: 'pep1' },
        xml(
          'pubsub',
          { xmlns: 'http://jabber.org/protocol/pubsub' },
          xml('items', { node: 'urn:xmpp:bookmarks:1' }),
        ),
      ),
    );
    const error = await clients.received(phone, (s) => s.attrs.id === 'pep1');
    expect(error.toString()).toBe(
      `<iq from="${alice}" to="${alice}/phone" id="pep1" type="error"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
    );
  });

  it('every item of disco#items answers disco#info', async () => {
    const items = await phone.iqCaller.request(
      xml('iq', { type: 'get', to: DOMAIN }, xml('query', { xmlns: DISCO_ITEMS })),
    );
    const jids = items
      .getChild('query', DISCO_ITEMS)!
      .getChildren('item')
      .map((i) => i.attrs.jid);
    expect(jids).toEqual([`smartlock.${DOMAIN}`]);
    for (const jid of jids) {
      const info = await phone.iqCaller.request(
        xml('iq', { type: 'get', to: jid }, xml('query', { xmlns: DISCO_INFO })),
      );
      expect(info.getChild('query', DISCO_INFO)!.toString()).toBe(
        `<query xmlns="${DISCO_INFO}"><identity category="component" type="generic" name="smartlock"/><feature var="${DISCO_INFO}"/><feature var="${DISCO_ITEMS}"/></query>`,
      );
    }
  });
});
