/**
 * XEP-0198 stream management on the message server, end to end over STARTTLS with a raw client: a session whose
 * TCP connection drops is resumed with nothing lost (what was sent meanwhile arrives after `<resumed/>`, once), and
 * a session that is not resumed hands what its client never acknowledged to offline storage (rows asserted, then
 * delivered at the next login with their first stamp) or back to the senders of iqs as errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import { RawXmpp, XmppInbox, xmppLogin } from '../../../test/support/xmpp.js';
import { DOMAIN, startXmppMessageServer, type XmppFixture } from './fixture.js';

const SM = 'urn:xmpp:sm:3';
const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const quote = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const exactly = (text: string) => new RegExp(quote(text));

let fixture: XmppFixture;
const raws: RawXmpp[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  fixture = await startXmppMessageServer({
    c2sLimits: { resumptionTimeoutMs: 1_500, ackRequestStanzas: 1_000, ackRequestMs: 600_000 },
  });
  await fixture.register('alice', 'alice pw');
  await fixture.register('bob', 'bob pw');
  await fixture.register('carol', 'carol pw');
});

afterAll(async () => {
  for (const raw of raws) raw.destroy();
  for (const client of clients) await client.stop().catch(() => undefined);
  await fixture?.close();
});

/** STARTTLS, SASL PLAIN, stream restart: the stream stops at the features after authentication. */
async function authenticated(user: string): Promise<RawXmpp> {
  const raw = await RawXmpp.connect(fixture.c2sPort);
  raws.push(raw);
  raw.header(DOMAIN);
  await raw.waitFor(/<\/stream:features>/);
  raw.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  await raw.waitFor(/<proceed/);
  await raw.startTls({ servername: DOMAIN, ca: fixture.ca });
  raw.header(DOMAIN);
  await raw.take(/.*<\/stream:features>/);
  raw.write(`<auth xmlns='${SASL}' mechanism='PLAIN'>${btoa(`\0${user}\0${user} pw`)}</auth>`);
  await raw.take(exactly(`<success xmlns='${SASL}'/>`));
  raw.header(DOMAIN);
  await raw.take(new RegExp(`.*${quote(`<sm xmlns='${SM}'/></stream:features>`)}`));
  return raw;
}

/** Bound as `user/resource` with stream management enabled and resumable: the resumption id. */
async function resumableSession(user: string, resource: string): Promise<{ raw: RawXmpp; previd: string }> {
  const raw = await authenticated(user);
  raw.write(
    `<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`,
  );
  await raw.take(/<iq type='result' id='b1'>.*<\/iq>/);
  raw.write(`<enable xmlns='${SM}' resume='true'/>`);
  const enabled = await raw.take(
    new RegExp(`<enabled xmlns='${SM}' id='([A-Za-z0-9_-]{32})' resume='true' max='2'/>`),
  );
  return { raw, previd: enabled[1]! };
}

async function login(user: string, resource: string): Promise<Client> {
  const client = await xmppLogin({
    port: fixture.c2sPort,
    domain: DOMAIN,
    username: user,
    password: `${user} pw`,
    resource,
  });
  clients.push(client);
  return client;
}

/** Messages in a raw text, as (id, body) in order. */
function messagesIn(text: string): { id: string; body: string }[] {
  return [...text.matchAll(/<message [^>]*id='([^']+)'[^>]*>.*?<body>([^<]*)<\/body>.*?<\/message>/g)].map(
    (m) => ({ id: m[1]!, body: m[2]! }),
  );
}

const chat = (to: string, id: string) => xml('message', { to, id, type: 'chat' }, xml('body', {}, id));

describe('resumption over STARTTLS', () => {
  it('after a dropped TCP connection: what was sent meanwhile arrives after <resumed/>, nothing lost or twice', async () => {
    const phone = await login('alice', 'phone');
    const { raw, previd } = await resumableSession('alice', 'sm');
    const target = `alice@${DOMAIN}/sm`;
    for (const id of ['m1', 'm2', 'm3']) await phone.send(chat(target, id));
    await raw.waitFor(/<body>m3<\/body>/);
    expect(messagesIn(raw.text).map((m) => m.id)).toEqual(['m1', 'm2', 'm3']);
    // The client acknowledges the first only, then its connection drops.
    raw.write(`<a xmlns='${SM}' h='1'/>`);
    await new Promise((r) => setTimeout(r, 100));
    raw.destroy();
    await new Promise((r) => setTimeout(r, 100));
    for (const id of ['m4', 'm5', 'm6']) await phone.send(chat(target, id));
    // The session is still there for its contacts: nothing bounced back to the phone.
    const phoneInbox = new XmppInbox(phone);
    await new Promise((r) => setTimeout(r, 200));
    const back = await authenticated('alice');
    back.write(`<resume xmlns='${SM}' previd='${previd}' h='1'/>`);
    await back.waitFor(/<body>m6<\/body>.*<r xmlns='urn:xmpp:sm:3'\/>$/);
    expect(back.text.startsWith(`<resumed xmlns='${SM}' previd='${previd}' h='0'/>`)).toBe(true);
    expect(messagesIn(back.text)).toEqual(['m2', 'm3', 'm4', 'm5', 'm6'].map((id) => ({ id, body: id })));
    expect(phoneInbox.stanzas.map(String)).toEqual([]);
    back.write(`<a xmlns='${SM}' h='6'/>`);
    back.write('</stream:stream>');
    await back.closed;
    // Everything was acknowledged: nothing was stored.
    expect((await fixture.db.query('SELECT id FROM offline_messages')).rows).toEqual([]);
  });
});

describe('a session not resumed in time', () => {
  it('stores its unacknowledged messages offline, answers its iqs, and the messages arrive at the next login', async () => {
    const phone = await login('bob', 'phone');
    const phoneInbox = new XmppInbox(phone);
    const { raw } = await resumableSession('bob', 'sm');
    const target = `bob@${DOMAIN}/sm`;
    const before = Date.now();
    await phone.send(chat(target, 'u1'));
    await phone.send(xml('message', { to: target, id: 'u2', type: 'headline' }, xml('body', {}, 'u2')));
    await phone.send(chat(target, 'u3'));
    await phone.send(
      xml('iq', { to: target, id: 'q1', type: 'get' }, xml('ping', { xmlns: 'urn:xmpp:ping' })),
    );
    await raw.waitFor(/id='q1'/);
    const sentBy = Date.now();
    raw.destroy();
    await phone.send(chat(target, 'u4'));
    // The window (1.5 s) ends: the iq comes back to its sender as an error…
    const error = await phoneInbox.next((s) => s.is('iq') && s.attrs.id === 'q1', 10_000);
    expect(error.attrs).toMatchObject({ type: 'error', from: target, to: `bob@${DOMAIN}/phone` });
    expect(error.getChild('error')?.attrs.type).toBe('cancel');
    expect(error.getChild('error')?.getChild('service-unavailable')).toBeDefined();
    // …and the chat messages are stored, in order (the headline is not kept, XEP-0160 §3).
    await expect
      .poll(
        async () =>
          (
            await fixture.db.query<{ owner: string; stanza: string }>(
              'SELECT owner, stanza FROM offline_messages ORDER BY id',
            )
          ).rows.map((r) => ({ owner: r.owner, ids: messagesIn(r.stanza).map((m) => m.id) })),
        { timeout: 10_000 },
      )
      .toEqual([
        { owner: 'bob', ids: ['u1'] },
        { owner: 'bob', ids: ['u3'] },
        { owner: 'bob', ids: ['u4'] },
      ]);
    const later = await login('bob', 'later');
    const inbox = new XmppInbox(later);
    await later.send(xml('presence'));
    const delivered: XmlElement[] = [];
    for (const id of ['u1', 'u3', 'u4'])
      delivered.push(await inbox.next((s) => s.is('message') && s.attrs.id === id));
    for (const message of delivered) {
      expect(message.attrs.from).toBe(`bob@${DOMAIN}/phone`);
      expect(message.getChildren('delay').map((d) => d.attrs.from)).toEqual([DOMAIN]);
    }
    // Stamped with the time the server had them, not the end of the window when they were stored.
    const stamps = delivered.map((m) => Date.parse(m.getChild('delay')!.attrs.stamp!));
    expect(stamps[0]).toBeGreaterThanOrEqual(before);
    expect(stamps[0]).toBeLessThanOrEqual(sentBy);
    expect(stamps[1]).toBeLessThanOrEqual(sentBy);
    expect(stamps[2]).toBeGreaterThanOrEqual(sentBy);
    await expect
      .poll(async () => (await fixture.db.query('SELECT id FROM offline_messages')).rows)
      .toEqual([]);
  });

  it("sends what was addressed to its full JID to the account's other online resource instead of storing it", async () => {
    await fixture.register('erin', 'erin pw');
    const phone = await login('erin', 'phone');
    const desk = await login('erin', 'desk');
    const deskInbox = new XmppInbox(desk);
    const { raw } = await resumableSession('erin', 'sm');
    await phone.send(chat(`erin@${DOMAIN}/sm`, 'e1'));
    await raw.waitFor(/<body>e1<\/body>/);
    raw.destroy();
    // The window (1.5 s) ends: e1 goes to the other resource that did not send it (RFC 6121 §8.5.3.2), stamped.
    const redirected = await deskInbox.next((s) => s.is('message') && s.attrs.id === 'e1', 10_000);
    expect(redirected.attrs).toMatchObject({ from: `erin@${DOMAIN}/phone`, to: `erin@${DOMAIN}/sm` });
    expect(redirected.getChildren('delay').map((d) => d.attrs.from)).toEqual([DOMAIN]);
    expect((await fixture.db.query(`SELECT id FROM offline_messages WHERE owner = 'erin'`)).rows).toEqual([]);
  });

  it('a new login binding the same resource replaces the waiting session; its initial presence gets what that one had not acknowledged', async () => {
    await fixture.register('dave', 'dave pw');
    const phone = await login('dave', 'phone');
    const { raw } = await resumableSession('dave', 'sm');
    const target = `dave@${DOMAIN}/sm`;
    for (const id of ['d1', 'd2']) await phone.send(chat(target, id));
    await raw.waitFor(/<body>d2<\/body>/);
    raw.destroy();
    // Not resumed: the client logs in afresh with the same resource, long before the window would end.
    const fresh = await authenticated('dave');
    fresh.write(
      "<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>sm</resource></bind></iq>",
    );
    await fresh.take(/<iq type='result' id='b2'>.*<\/iq>/);
    fresh.write('<presence/>');
    await fresh.waitFor(/<body>d2<\/body>.*<\/message>/);
    expect(messagesIn(fresh.text).map((m) => m.id)).toEqual(['d1', 'd2']);
    expect(fresh.text).toContain(`<delay xmlns='urn:xmpp:delay' from='${DOMAIN}'`);
  });

  it('a message from storage that is not acknowledged is stored again with its first stamp only', async () => {
    // carol is related to bob and has never logged in: a message to her is stored.
    await fixture.server.context.router.roster.establish(`bob@${DOMAIN}`, `carol@${DOMAIN}`);
    const sender = await login('bob', 'sender');
    await sender.send(chat(`carol@${DOMAIN}`, 'o1'));
    await expect
      .poll(
        async () =>
          (await fixture.db.query("SELECT id FROM offline_messages WHERE owner = 'carol'")).rows.length,
      )
      .toBe(1);
    const { raw } = await resumableSession('carol', 'sm');
    raw.write('<presence/>');
    await raw.waitFor(/<body>o1<\/body>/);
    const stamp = /<delay xmlns='urn:xmpp:delay' from='as1\.irsp\.test' stamp='([^']+)'>/.exec(raw.text)![1];
    raw.destroy();
    // The window ends: the session is gone and the message is stored again.
    await expect
      .poll(() => fixture.server.context.router.sessions.resource('carol', 'sm'), { timeout: 10_000 })
      .toBeUndefined();
    await expect
      .poll(
        async () =>
          (await fixture.db.query("SELECT id FROM offline_messages WHERE owner = 'carol'")).rows.length,
        { timeout: 10_000 },
      )
      .toBe(1);
    const again = await login('carol', 'again');
    const inbox = new XmppInbox(again);
    await again.send(xml('presence'));
    const message = await inbox.next((s) => s.is('message') && s.attrs.id === 'o1');
    expect(message.getChildren('delay').map((d) => d.attrs)).toEqual([
      { xmlns: 'urn:xmpp:delay', from: DOMAIN, stamp },
    ]);
  });
});

describe('carbon copies a session never acknowledged (decision 0025)', () => {
  it('are dropped when the session ends: neither stored offline nor handed to the other resources', async () => {
    await fixture.register('gina', 'gina pw');
    await fixture.register('hank', 'hank pw');
    for (const [owner, contact] of [
      ['gina', `hank@${DOMAIN}`],
      ['hank', `gina@${DOMAIN}`],
    ])
      await fixture.db.query(`INSERT INTO roster (owner, contact, subscription) VALUES ($1, $2, 'both')`, [
        owner,
        contact,
      ]);
    const phone = await login('gina', 'phone');
    const phoneInbox = new XmppInbox(phone);
    const hank = await login('hank', 'r');
    const hankInbox = new XmppInbox(hank);
    const { raw } = await resumableSession('gina', 'sm');
    raw.write("<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>");
    await raw.waitFor(/id='c1'/);
    await phone.send(chat(`hank@${DOMAIN}/r`, 'k1'));
    await hankInbox.next((s) => s.attrs.id === 'k1');
    await raw.waitFor(/<sent xmlns='urn:xmpp:carbons:2'>.*<body>k1<\/body>/);
    raw.destroy();
    await expect
      .poll(() => fixture.server.context.router.sessions.resource('gina', 'sm'), { timeout: 10_000 })
      .toBeUndefined();
    // The original reached hank; its copy goes with the session that did not take it.
    await phone.iqCaller.request(xml('iq', { type: 'get' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    expect(phoneInbox.stanzas.filter((s) => s.is('message')).map(String)).toEqual([]);
    expect((await fixture.db.query(`SELECT id FROM offline_messages WHERE owner = 'gina'`)).rows).toEqual([]);
  });
});
