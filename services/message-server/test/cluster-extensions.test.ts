/**
 * The client extensions of decision 0025 across two message servers of one AS on real NATS (127.0.0.1:4222, or
 * NATS_URL) and one shared database: a carbon copy reaches the account's resource on the other server, a blocklist
 * push too, and a block set through one server holds for stanzas routed by the other (its cached list dropped over
 * the cluster's `changed` subject).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client } from '@xmpp/client';
import type { ClusterConfig } from '@irsp/config';
import { openTestDb, type Db } from '@irsp/store';
import { tempDir } from '../../../test/support/irsp.js';
import { XmppInbox, xmppLogin } from '../../../test/support/xmpp.js';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';

const NATS = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const domain = `c${randomBytes(5).toString('hex')}.irsp.test`;
const cluster: ClusterConfig = { nats: [NATS], secret: randomBytes(24).toString('base64') };
const CARBONS = 'urn:xmpp:carbons:2';
const BLOCKING = 'urn:xmpp:blocking';

let db: Db;
let tls: Awaited<ReturnType<typeof tempDir>>;
let a: XmppFixture;
let b: XmppFixture;
const clients: Client[] = [];

async function login(server: XmppFixture, username: string, resource: string) {
  const client = await xmppLogin({
    port: server.c2sPort,
    domain,
    username,
    password: `${username} pw`,
    resource,
  });
  clients.push(client);
  return { client, inbox: new XmppInbox(client), jid: `${username}@${domain}/${resource}` };
}

async function seenElsewhere(server: XmppFixture, local: string, resource: string): Promise<void> {
  await expect
    .poll(() => server.server.context.router.sessions.remoteResource(local, resource))
    .toBeDefined();
}

beforeAll(async () => {
  db = await openTestDb('msclusterext');
  tls = await tempDir();
  a = await startXmppMessageServer({ domain, db, id: 'ms-a', tlsDir: tls.path, cluster });
  b = await startXmppMessageServer({ domain, db, id: 'ms-b', tlsDir: tls.path, cluster });
  for (const name of ['alice', 'bob']) await a.register(name, `${name} pw`);
  for (const [owner, contact] of [
    ['alice', `bob@${domain}`],
    ['bob', `alice@${domain}`],
  ])
    await db.query(`INSERT INTO roster (owner, contact, subscription) VALUES ($1, $2, 'both')`, [
      owner,
      contact,
    ]);
});

afterAll(async () => {
  for (const client of clients) await client.stop().catch(() => undefined);
  await b?.close();
  await a?.close();
  await db?.close();
  await tls?.remove();
});

describe('client extensions in a cluster', () => {
  it("carbons and blocklist pushes reach the account's resource on the other server; a block holds there", async () => {
    const phone = await login(a, 'alice', 'phone');
    const laptop = await login(b, 'alice', 'laptop');
    const bob = await login(a, 'bob', 'r');
    await seenElsewhere(a, 'alice', 'laptop');
    await laptop.client.iqCaller.request(xml('iq', { type: 'set' }, xml('enable', { xmlns: CARBONS })));
    await laptop.client.iqCaller.request(xml('iq', { type: 'get' }, xml('blocklist', { xmlns: BLOCKING })));

    // Routed by server a (phone and bob are there): the copy goes over the relay to b.
    await phone.client.send(
      xml('message', { to: bob.jid, id: 'c1', type: 'chat' }, xml('body', {}, 'sent from the phone')),
    );
    await bob.inbox.next((s) => s.attrs.id === 'c1');
    const sent = await laptop.inbox.next((s) => !!s.getChild('sent', CARBONS));
    expect(sent.toString()).toBe(
      `<message from="alice@${domain}" type="chat" to="${laptop.jid}"><sent xmlns="${CARBONS}"><forwarded xmlns="urn:xmpp:forward:0"><message to="${bob.jid}" id="c1" type="chat" from="${phone.jid}" xmlns="jabber:client"><body>sent from the phone</body></message></forwarded></sent></message>`,
    );
    await bob.client.send(
      xml('message', { to: phone.jid, id: 'c2', type: 'chat' }, xml('body', {}, 'to the phone')),
    );
    await phone.inbox.next((s) => s.attrs.id === 'c2');
    const received = await laptop.inbox.next((s) => !!s.getChild('received', CARBONS));
    expect(received.getChild('received', CARBONS)!.toString()).toBe(
      `<received xmlns="${CARBONS}"><forwarded xmlns="urn:xmpp:forward:0"><message to="${phone.jid}" id="c2" type="chat" from="${bob.jid}" xmlns="jabber:client"><body>to the phone</body></message></forwarded></received>`,
    );

    // Server a has bob's and alice's lists cached: it just routed between them.
    const laptopToBob = await laptop.client.iqCaller.request(
      xml('iq', { type: 'set' }, xml('block', { xmlns: BLOCKING }, xml('item', { jid: `bob@${domain}` }))),
    );
    expect(laptopToBob.attrs.type).toBe('result');
    const push = await laptop.inbox.next((s) => s.is('iq') && !!s.getChild('block', BLOCKING));
    expect(push.getChild('block', BLOCKING)!.toString()).toBe(
      `<block xmlns="${BLOCKING}"><item jid="bob@${domain}"/></block>`,
    );
    // bob's presence saw alice's phone go (sent by b, over the relay to a).
    await bob.inbox.next(
      (s) => s.toString() === `<presence type="unavailable" from="${phone.jid}" to="${bob.jid}"/>`,
    );
    // Routed by server a, which only heard of the block over the bus.
    await bob.client.send(
      xml('message', { to: phone.jid, id: 'x1', type: 'chat' }, xml('body', {}, 'blocked?')),
    );
    expect((await bob.inbox.next((s) => s.attrs.id === 'x1')).toString()).toBe(
      `<message from="${phone.jid}" to="${bob.jid}" id="x1" type="error"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>`,
    );
    await phone.client.send(
      xml('message', { to: bob.jid, id: 'x2', type: 'chat' }, xml('body', {}, 'blocked!')),
    );
    expect((await phone.inbox.next((s) => s.attrs.id === 'x2')).toString()).toBe(
      `<message from="${bob.jid}" to="${phone.jid}" id="x2" type="error"><error type="cancel"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><blocked xmlns="urn:xmpp:blocking:errors"/></error></message>`,
    );
    expect(phone.inbox.has((s) => s.attrs.id === 'x1')).toBe(false);
    expect(laptop.inbox.has((s) => !!s.getChild('sent', CARBONS) && s.toString().includes('x2'))).toBe(false);
  });
});
