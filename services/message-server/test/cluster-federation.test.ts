/**
 * Federation (clause 8.5) of an AS with two message servers in a cluster (decision 0024, real NATS at
 * 127.0.0.1:4222 or NATS_URL, one shared database) and a second AS with one server. The two ASs' certificates come
 * from two CAs that do not trust each other, so every s2s stream is authenticated by dialback (XEP-0220): the other
 * AS's route to the cluster's domain reaches server B only, so the keys server A's streams present are checked at B.
 * Stanzas of a session leave from its own server; stanzas of the other AS all arrive at B, which relays them to A's
 * sessions and stores them offline for accounts with no session.
 */
import { randomBytes } from 'node:crypto';
import tls, { type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import type { ClusterConfig } from '@irsp/config';
import { openTestDb, type Db } from '@irsp/store';
import { freePorts, tempDir } from '../../../test/support/irsp.js';
import { XmppInbox, xmppLogin } from '../../../test/support/xmpp.js';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';

const NATS = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
/** The clustered AS: fresh per run, so that its NATS subjects are this run's alone. */
const C = `c${randomBytes(5).toString('hex')}.irsp.test`;
const X = 'as2.irsp.test';
const cluster: ClusterConfig = { nats: [NATS], secret: randomBytes(24).toString('base64') };

let db: Db;
let tlsC: Awaited<ReturnType<typeof tempDir>>;
let tlsX: Awaited<ReturnType<typeof tempDir>>;
let a: XmppFixture;
let b: XmppFixture;
let x: XmppFixture;
let restoreTls: (() => void) | undefined;
const clients: Client[] = [];

async function login(server: XmppFixture, username: string, resource: string) {
  const client = await xmppLogin({
    port: server.c2sPort,
    domain: server.domain,
    username,
    password: `${username} pw`,
    resource,
  });
  clients.push(client);
  return { client, inbox: new XmppInbox(client), jid: `${username}@${server.domain}/${resource}` };
}

/** Related both ways across the ASs, as an approved request leaves them on each side. */
async function relate(local: string, remote: string): Promise<void> {
  await db.query(`INSERT INTO roster (owner, contact, subscription, ask) VALUES ($1, $2, 'both', false)`, [
    local,
    `${remote}@${X}`,
  ]);
  await x.db.query(`INSERT INTO roster (owner, contact, subscription, ask) VALUES ($1, $2, 'both', false)`, [
    remote,
    `${local}@${C}`,
  ]);
}

/** The fields of the log lines with message `msg`. */
function logged(server: XmppFixture, msg: string): Record<string, unknown>[] {
  return server.log.lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry['msg'] === msg)
    .map(({ local, remote, verdict, method }) => ({ local, remote, verdict, method }));
}

const bodyIs = (text: string) => (s: XmlElement) => s.is('message') && s.getChildText('body') === text;

beforeAll(async () => {
  db = await openTestDb('msclusters2s');
  [tlsC, tlsX] = await Promise.all([tempDir(), tempDir()]);
  const [portA, portB, portX] = await freePorts(3);
  const federation = (routes: Record<string, { host: string; port: number }[]>) => ({
    routes,
    limits: { bounceTimeoutMs: 5_000, connectTimeoutMs: 2_000 },
  });
  const toX = { [X]: [{ host: '127.0.0.1', port: portX! }] };
  const start = (id: string, s2sPort: number) =>
    startXmppMessageServer({
      domain: C,
      db,
      id,
      tlsDir: tlsC.path,
      cluster,
      s2sPort,
      federation: federation(toX),
    });
  a = await start('ms-a', portA!);
  b = await start('ms-b', portB!);
  x = await startXmppMessageServer({
    domain: X,
    tlsDir: tlsX.path,
    s2sPort: portX,
    federation: federation({ [C]: [{ host: '127.0.0.1', port: portB! }] }),
  });
  // The c2s clients trust both CAs; each server trusts its own only, for s2s.
  const original = tls.connect;
  const cas = [a.ca, x.ca];
  tls.connect = ((options: ConnectionOptions, ...rest: unknown[]) =>
    (original as (...args: unknown[]) => TLSSocket)({ ca: cas, ...options }, ...rest)) as typeof tls.connect;
  restoreTls = () => (tls.connect = original);
  for (const name of ['alice', 'bob', 'carol']) await a.register(name, `${name} pw`);
  await x.register('xavier', 'xavier pw');
  for (const name of ['alice', 'bob', 'carol']) await relate(name, 'xavier');
});

afterAll(async () => {
  for (const client of clients) await client.stop().catch(() => undefined);
  // Patches come off in the reverse order they went on: this one, then each fixture's.
  restoreTls?.();
  await x?.close();
  await b?.close();
  await a?.close();
  await db?.close();
  await tlsC?.remove();
  await tlsX?.remove();
});

describe('an AS of two clustered message servers federating with an AS of one', () => {
  let alice: Awaited<ReturnType<typeof login>>;
  let bob: Awaited<ReturnType<typeof login>>;
  let xavier: Awaited<ReturnType<typeof login>>;

  it("the other AS's probe reaches B; each server answers for its own sessions over its own stream, A's key checked at B", async () => {
    alice = await login(a, 'alice', 'phone');
    await alice.client.send(xml('presence', {}, xml('status', {}, 'alice on A')));
    bob = await login(b, 'bob', 'laptop');
    await bob.client.send(xml('presence', {}, xml('status', {}, 'bob on B')));
    await expect.poll(() => b.server.context.router.sessions.remoteResource('alice', 'phone')).toBe('ms-a');
    xavier = await login(x, 'xavier', 'x1');
    await xavier.client.send(xml('presence'));
    const fromAlice = await xavier.inbox.next((s) => s.is('presence') && s.attrs.from === alice.jid, 15_000);
    expect(fromAlice.getChildText('status')).toBe('alice on A');
    const fromBob = await xavier.inbox.next((s) => s.is('presence') && s.attrs.from === bob.jid, 15_000);
    expect(fromBob.getChildText('status')).toBe('bob on B');
    // Both servers of C dialled X themselves, and X checked both keys with B: A's key too.
    expect(logged(a, 's2s outgoing stream authenticated')).toEqual([
      { local: C, remote: X, method: 'dialback', verdict: undefined },
    ]);
    expect(logged(b, 's2s outgoing stream authenticated')).toEqual([
      { local: C, remote: X, method: 'dialback', verdict: undefined },
    ]);
    expect(logged(b, 's2s dialback key verified for the peer')).toEqual([
      { local: C, remote: X, verdict: 'valid', method: undefined },
      { local: C, remote: X, verdict: 'valid', method: undefined },
    ]);
    expect(logged(a, 's2s dialback key verified for the peer')).toEqual([]);
    expect(logged(x, 's2s incoming stream authenticated')).toEqual([
      { local: X, remote: C, method: 'dialback', verdict: undefined },
      { local: X, remote: C, method: 'dialback', verdict: undefined },
    ]);
  });

  it('messages from sessions on either server reach the other AS', async () => {
    await alice.client.send(xml('message', { to: `xavier@${X}`, type: 'chat' }, xml('body', {}, 'from A')));
    expect((await xavier.inbox.next(bodyIs('from A'))).attrs.from).toBe(alice.jid);
    await bob.client.send(xml('message', { to: xavier.jid, type: 'chat' }, xml('body', {}, 'from B')));
    expect((await xavier.inbox.next(bodyIs('from B'))).attrs.from).toBe(bob.jid);
  });

  it("the other AS's messages arrive at B: to a session on A relayed there, to one on B delivered", async () => {
    await xavier.client.send(xml('message', { to: alice.jid, type: 'chat' }, xml('body', {}, 'to A full')));
    await xavier.client.send(
      xml('message', { to: `alice@${C}`, type: 'chat' }, xml('body', {}, 'to A bare')),
    );
    await xavier.client.send(xml('message', { to: `bob@${C}`, type: 'chat' }, xml('body', {}, 'to B bare')));
    for (const body of ['to A full', 'to A bare'])
      expect((await alice.inbox.next(bodyIs(body))).attrs).toMatchObject({ from: xavier.jid, type: 'chat' });
    expect((await bob.inbox.next(bodyIs('to B bare'))).attrs).toMatchObject({
      from: xavier.jid,
      to: `bob@${C}`,
    });
    // X's only stream to C is the one to B, authenticated by B dialling X back; A accepted no stream.
    expect(logged(b, 's2s incoming stream authenticated')).toEqual([
      { local: C, remote: X, method: 'dialback', verdict: undefined },
    ]);
    expect(logged(a, 's2s incoming stream authenticated')).toEqual([]);
    // An iq to a session on A is answered from A's own stream.
    const pong = await xavier.client.iqCaller.request(
      xml('iq', { type: 'get', to: alice.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })),
    );
    expect(pong.attrs).toMatchObject({ type: 'result', from: alice.jid });
  });

  it('a message of the other AS for an account online nowhere in the cluster is stored, and delivered on server A', async () => {
    await xavier.client.send(
      xml('message', { to: `carol@${C}`, type: 'chat' }, xml('body', {}, 'for later')),
    );
    await expect
      .poll(async () => (await db.query(`SELECT owner FROM offline_messages`)).rows)
      .toEqual([{ owner: 'carol' }]);
    const carol = await login(a, 'carol', 'c1');
    await carol.client.send(xml('presence'));
    const stored = await carol.inbox.next(bodyIs('for later'));
    expect(stored.attrs.from).toBe(xavier.jid);
    expect(stored.getChild('delay', 'urn:xmpp:delay')?.attrs.from).toBe(C);
    await expect.poll(async () => (await db.query(`SELECT owner FROM offline_messages`)).rows).toEqual([]);
  });
});
