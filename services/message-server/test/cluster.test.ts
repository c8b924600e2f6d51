/**
 * Two message servers of one AS on real NATS (127.0.0.1:4222, or NATS_URL) and one shared database (decision 0024):
 * messages, presence and iqs between sessions on different servers, offline storage across them, and every
 * per-server cache told of a change made through the other server. The AS's domain is fresh per run, so that its
 * NATS subjects are this run's alone.
 */
import { randomBytes } from 'node:crypto';
import tlsSocket from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import type { ClusterConfig } from '@irsp/config';
import { openTestDb, type Db } from '@irsp/store';
import { form, tempDir, type HttpAnswer } from '../../../test/support/irsp.js';
import { XmppInbox, xmppLogin } from '../../../test/support/xmpp.js';
import { RawSession } from './raw-session.js';
import { accountServerAuth, startXmppMessageServer, type XmppFixture } from './fixture.js';

const NATS = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const domain = `c${randomBytes(5).toString('hex')}.irsp.test`;
const cluster: ClusterConfig = { nats: [NATS], secret: randomBytes(24).toString('base64') };
const smartlock = { appid: 'smartlock', token: 'smartlock-token-0123456789' };

let db: Db;
let tls: Awaited<ReturnType<typeof tempDir>>;
let a: XmppFixture;
let b: XmppFixture;
const clients: Client[] = [];

async function start(id: string): Promise<XmppFixture> {
  return startXmppMessageServer({
    domain,
    db,
    id,
    tlsDir: tls.path,
    cluster,
    directTls: true,
    applicationServers: [
      {
        name: 'smartlock',
        url: 'https://127.0.0.1:1',
        listen: { host: '127.0.0.1', port: 0 },
        jid: `smartlock.${domain}`,
        credentials: smartlock,
        deviceStatus: false,
        serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/x' },
      },
    ],
  });
}

/** Logs `username` in on `server` (password `<username> pw`) with a resource; its inbox keeps every stanza. */
async function login(server: XmppFixture, username: string, resource: string, password = `${username} pw`) {
  const client = await xmppLogin({ port: server.c2sPort, domain, username, password, resource });
  clients.push(client);
  return { client, inbox: new XmppInbox(client), jid: `${username}@${domain}/${resource}` };
}

/** Related both ways, as an approved request leaves them (written before either server has read them). */
async function relate(x: string, y: string): Promise<void> {
  for (const [owner, contact] of [
    [x, y],
    [y, x],
  ] as const)
    await db.query(`INSERT INTO roster (owner, contact, subscription, ask) VALUES ($1, $2, 'both', false)`, [
      owner,
      `${contact}@${domain}`,
    ]);
}

/** The exact answer of the admin API: empty on 200, Table 6's body on 422. */
function expectStatus(answer: HttpAnswer, status: 200 | 422) {
  expect({ status: answer.status, body: answer.body }).toEqual({
    status,
    body: status === 200 ? '' : '<error><code>422</code><detail>id not existed</detail></error>',
  });
}

const bodyIs = (text: string) => (s: XmlElement) => s.is('message') && s.getChildText('body') === text;

/** The salt `server` answers to SCRAM-SHA-1's first message for `username` (direct TLS, nothing else sent). */
async function scramSalt(server: XmppFixture, username: string): Promise<string> {
  const socket = tlsSocket.connect({
    host: '127.0.0.1',
    port: server.directTlsPort!,
    ca: server.ca,
    servername: domain,
  });
  socket.on('error', () => undefined);
  let text = '';
  socket.setEncoding('utf8');
  const read = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve) => {
      const check = () => {
        const found = pattern.exec(text);
        if (found) resolve(found);
        else socket.once('data', check);
      };
      check();
    });
  socket.on('data', (d: string) => (text += d));
  socket.write(
    `<?xml version='1.0'?><stream:stream to='${domain}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
  );
  await read(/<\/stream:features>/);
  const first = Buffer.from(`n,,n=${username},r=${randomBytes(18).toString('base64')}`).toString('base64');
  socket.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>${first}</auth>`);
  const challenge = await read(/<challenge [^>]*>([^<]+)<\/challenge>/);
  socket.destroy();
  return /(?:^|,)s=([^,]+)/.exec(Buffer.from(challenge[1]!, 'base64').toString())![1]!;
}

/** Waits until `server` knows that `jid` is online on the other server. */
async function seenElsewhere(server: XmppFixture, local: string, resource: string): Promise<void> {
  await expect
    .poll(() => server.server.context.router.sessions.remoteResource(local, resource))
    .toBeDefined();
}

beforeAll(async () => {
  db = await openTestDb('mscluster');
  tls = await tempDir();
  a = await start('ms-a');
  b = await start('ms-b');
  for (const name of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']) await a.register(name, `${name} pw`);
  await a.register('#lock1', '#lock1 pw', { verifycode: 'lock1-code-1234' });
  await relate('alice', 'bob');
  await relate('carol', 'dave');
});

afterAll(async () => {
  for (const client of clients) await client.stop().catch(() => undefined);
  await b?.close();
  await a?.close();
  await db?.close();
  await tls?.remove();
});

describe('routing between the message servers of one AS', () => {
  it('a message to a bare JID and to a full JID on the other server arrives, with its from intact', async () => {
    const alice = await login(a, 'alice', 'phone');
    const bob = await login(b, 'bob', 'laptop');
    await seenElsewhere(a, 'bob', 'laptop');
    await alice.client.send(
      xml('message', { to: `bob@${domain}`, type: 'chat' }, xml('body', {}, 'to bare')),
    );
    const bare = await bob.inbox.next(bodyIs('to bare'));
    expect(bare.attrs.from).toBe(alice.jid);
    expect(bare.attrs.to).toBe(`bob@${domain}`);
    await seenElsewhere(b, 'alice', 'phone');
    await bob.client.send(xml('message', { to: alice.jid, type: 'chat' }, xml('body', {}, 'to full')));
    expect((await alice.inbox.next(bodyIs('to full'))).attrs.from).toBe(bob.jid);
  });

  it('presence: each sees the other available (broadcast and the probe of initial presence) and unavailable', async () => {
    const carol = await login(a, 'carol', 'c1');
    await carol.client.send(xml('presence', {}, xml('status', {}, 'carol here')));
    const dave = await login(b, 'dave', 'd1');
    await seenElsewhere(a, 'dave', 'd1');
    await dave.client.send(xml('presence', {}, xml('status', {}, 'dave here')));
    // Dave's initial presence reaches carol on the other server, and carol's current presence reaches dave.
    const fromDave = await carol.inbox.next((s) => s.is('presence') && s.attrs.from === dave.jid);
    expect(fromDave.getChildText('status')).toBe('dave here');
    const fromCarol = await dave.inbox.next((s) => s.is('presence') && s.attrs.from === carol.jid);
    expect(fromCarol.getChildText('status')).toBe('carol here');
    expect(fromCarol.attrs.to).toBe(dave.jid);
    await dave.client.stop();
    const gone = await carol.inbox.next((s) => s.is('presence') && s.attrs.from === dave.jid);
    expect(gone.attrs.type).toBe('unavailable');
  });

  it('a device on server B answers an iq from its owner on server A', async () => {
    const alice = await login(a, 'alice', 'owner');
    // The verification code relates alice and the lock, and makes her its owner (handled by server A).
    await alice.client.send(
      xml(
        'presence',
        { to: `#lock1@${domain}`, type: 'subscribe' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, 'lock1-code-1234'),
      ),
    );
    await alice.inbox.next((s) => s.is('presence') && s.attrs.type === 'subscribed');
    const lock = await login(b, '#lock1', 'main');
    await seenElsewhere(a, '#lock1', 'main');
    await alice.client.send(
      xml('iq', { type: 'get', id: 'status-1', to: lock.jid }, xml('query', { xmlns: 'urn:example:lock' })),
    );
    const request = await lock.inbox.next((s) => s.is('iq') && s.attrs.id === 'status-1');
    expect(request.attrs.from).toBe(alice.jid);
    await lock.client.send(
      xml(
        'iq',
        { type: 'result', id: 'status-1', to: alice.jid },
        xml('query', { xmlns: 'urn:example:lock' }, 'locked'),
      ),
    );
    const answer = await alice.inbox.next((s) => s.is('iq') && s.attrs.id === 'status-1');
    expect(answer.attrs).toMatchObject({ type: 'result', from: lock.jid });
    expect(answer.getChildText('query')).toBe('locked');
  });

  it('a message to an account offline everywhere is stored, and delivered at its login on the other server', async () => {
    // Dave logged out of server B in the presence test.
    await expect.poll(() => a.server.context.router.sessions.remote('dave')).toEqual([]);
    const carol = await login(a, 'carol', 'c2');
    await carol.client.send(xml('message', { to: `dave@${domain}/d1` }, xml('body', {}, 'while away')));
    // Carol's next answer comes once the message is stored (the output barrier).
    await carol.client.iqCaller.request(
      xml('iq', { type: 'get', to: domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })),
    );
    expect((await db.query(`SELECT count(*)::int AS n FROM offline_messages`)).rows).toEqual([{ n: 1 }]);
    const dave = await login(b, 'dave', 'later');
    await dave.client.send(xml('presence'));
    const stored = await dave.inbox.next(bodyIs('while away'));
    expect(stored.getChild('delay', 'urn:xmpp:delay')?.attrs.from).toBe(domain);
  });
});

describe('without NATS', () => {
  it('a clustered message server does not start, rather than run alone', async () => {
    // A port nothing listens on: the NATS client's connect fails at once.
    await expect(
      startXmppMessageServer({
        domain,
        db,
        id: 'ms-z',
        tlsDir: tls.path,
        cluster: { ...cluster, nats: ['nats://127.0.0.1:1'] },
      }),
    ).rejects.toThrow(/CONNECTION_REFUSED/);
  });
});

describe('nothing acknowledged is lost across servers', () => {
  it('a relayed message its recipient never acknowledged is stored once by the sending server when the session ends', async () => {
    const raw = await RawSession.login(b, 'bob', 'bob pw', 'raw');
    raw.write(`<enable xmlns='urn:xmpp:sm:3'/>`);
    await raw.waitFor(/<enabled xmlns='urn:xmpp:sm:3'/);
    await seenElsewhere(a, 'bob', 'raw');
    const alice = await login(a, 'alice', 'sender');
    await alice.client.send(
      xml('message', { to: `bob@${domain}/raw`, type: 'chat' }, xml('body', {}, 'never acked')),
    );
    // Written to bob's stream; bob reads it and goes without acknowledging it (no resumption asked for).
    await raw.waitFor(/never acked/);
    raw.socket.destroy();
    await expect
      .poll(async () => (await db.query(`SELECT stanza FROM offline_messages WHERE owner = 'bob'`)).rows)
      .toHaveLength(1);
    const bob = await login(b, 'bob', 'back');
    await bob.client.send(xml('presence'));
    const again = await bob.inbox.next(bodyIs('never acked'));
    expect(again.attrs.from).toBe(alice.jid);
    expect(again.getChild('delay', 'urn:xmpp:delay')?.attrs.from).toBe(domain);
  });
});

describe('what looks at the sessions of every server of the AS', () => {
  it('a wrong verification code is told to the device live on the other server, not stored', async () => {
    await a.register('#lock2', '#lock2 pw', { verifycode: 'lock2-code-1234' });
    await a.register('olga', 'olga pw');
    const lock = await login(b, '#lock2', 'main');
    await lock.client.send(xml('presence'));
    await seenElsewhere(a, '#lock2', 'main');
    const olga = await login(a, 'olga', 'o1');
    await olga.client.send(
      xml(
        'presence',
        { to: `#lock2@${domain}`, type: 'subscribe', id: 'wrong-1' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, 'not-the-code'),
      ),
    );
    const refusal = await olga.inbox.next((s) => s.is('presence') && s.attrs.id === 'wrong-1');
    expect(refusal.attrs.type).toBe('error');
    expect(refusal.getChild('error')?.getChild('not-authorized')).toBeDefined();
    const notice = await lock.inbox.next((s) => s.is('message') && s.getChild('failed') !== undefined);
    expect(notice.attrs).toMatchObject({ type: 'normal', from: domain, to: `#lock2@${domain}` });
    expect(notice.getChild('failed')!.attrs).toEqual({
      xmlns: 'urn:irsp:verifycode:0',
      device: `#lock2@${domain}`,
      requester: `olga@${domain}`,
      failures: '1',
      limit: expect.stringMatching(/^\d+$/),
    });
    expect((await db.query(`SELECT 1 FROM offline_messages WHERE owner = '#lock2'`)).rowCount).toBe(0);
  });

  it("what an ended session did not acknowledge goes to its account's resource on the other server", async () => {
    for (const name of ['kim', 'lee']) await a.register(name, `${name} pw`);
    await relate('kim', 'lee');
    const desk = await login(a, 'kim', 'desk');
    await desk.client.send(xml('presence'));
    const raw = await RawSession.login(b, 'kim', 'kim pw', 'raw');
    raw.write(`<enable xmlns='urn:xmpp:sm:3'/>`);
    await raw.waitFor(/<enabled xmlns='urn:xmpp:sm:3'/);
    await seenElsewhere(b, 'kim', 'desk');
    const lee = await login(b, 'lee', 'l1');
    await lee.client.send(
      xml('message', { to: `kim@${domain}/raw`, type: 'chat' }, xml('body', {}, 'read, not acked')),
    );
    await raw.waitFor(/read, not acked/);
    raw.socket.destroy();
    const handed = await desk.inbox.next(bodyIs('read, not acked'));
    expect(handed.attrs).toMatchObject({ from: lee.jid, to: `kim@${domain}/raw`, type: 'chat' });
    expect(handed.getChild('delay', 'urn:xmpp:delay')?.attrs.from).toBe(domain);
    expect((await db.query(`SELECT 1 FROM offline_messages WHERE owner = 'kim'`)).rowCount).toBe(0);
  });

  it('a relationship ended on one server: each side sees every resource of the other go, on both servers', async () => {
    for (const name of ['mia', 'ned']) await a.register(name, `${name} pw`);
    await relate('mia', 'ned');
    const miaA = await login(a, 'mia', 'a1');
    await miaA.client.send(xml('presence'));
    const miaB = await login(b, 'mia', 'b1');
    await miaB.client.send(xml('presence'));
    const ned = await login(a, 'ned', 'n1');
    await seenElsewhere(a, 'mia', 'b1');
    await ned.client.send(xml('presence'));
    for (const mia of [miaA, miaB])
      await ned.inbox.next((s) => s.is('presence') && s.attrs.from === mia.jid && s.attrs.type === undefined);
    await ned.client.send(xml('presence', { to: `mia@${domain}`, type: 'unsubscribe' }));
    for (const mia of [miaA, miaB]) {
      const gone = await ned.inbox.next((s) => s.is('presence') && s.attrs.from === mia.jid);
      expect(gone.attrs).toMatchObject({ type: 'unavailable', to: `ned@${domain}` });
      const nedGone = await mia.inbox.next(
        (s) => s.is('presence') && s.attrs.from === ned.jid && s.attrs.type === 'unavailable',
      );
      expect(nedGone.attrs.to).toBe(`mia@${domain}`);
    }
  });
});

describe('XEP-0198 resumption asked of the other server', () => {
  it('fails, once the session has ended on the server that issued the id and stored what it had not acknowledged', async () => {
    for (const name of ['pat', 'quinn']) await a.register(name, `${name} pw`);
    await relate('pat', 'quinn');
    const old = await RawSession.login(a, 'pat', 'pat pw', 'phone');
    old.write(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`);
    const previd = (await old.waitFor(/<enabled xmlns='urn:xmpp:sm:3' id='([^']+)'/))[1]!;
    await seenElsewhere(b, 'pat', 'phone');
    const quinn = await login(a, 'quinn', 'q1');
    await quinn.client.send(
      xml('message', { to: `pat@${domain}/phone`, type: 'chat' }, xml('body', {}, 'before the break')),
    );
    await old.waitFor(/before the break/);
    // The connection breaks; the client comes back through a load balancer that picks server B.
    old.socket.destroy();
    const next = await RawSession.login(b, 'pat', 'pat pw');
    next.write(`<resume xmlns='urn:xmpp:sm:3' previd='${previd}' h='0'/>`);
    await next.take(
      /<failed xmlns='urn:xmpp:sm:3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/><\/failed>/,
    );
    // Server A ended the session at once (not after its resumption window) and stored the message first.
    expect(a.server.context.router.sessions.resource('pat', 'phone')).toBeUndefined();
    expect((await db.query(`SELECT 1 FROM offline_messages WHERE owner = 'pat'`)).rowCount).toBe(1);
    next.write(
      `<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`,
    );
    await next.waitFor(/<iq [^>]*id='bind'[^>]*type='result'|<iq [^>]*type='result'[^>]*id='bind'/);
    next.write('<presence/>');
    await next.waitFor(/<message [^>]*>.*?before the break.*?<delay [^>]*from='[^']+'/s);
    expect((await db.query(`SELECT 1 FROM offline_messages WHERE owner = 'pat'`)).rowCount).toBe(0);
    next.destroy();
  });

  it('an id nobody issued fails as before', async () => {
    await a.register('rob', 'rob pw');
    const next = await RawSession.login(b, 'rob', 'rob pw');
    next.write(`<resume xmlns='urn:xmpp:sm:3' previd='no-such-id' h='0'/>`);
    await next.take(
      /<failed xmlns='urn:xmpp:sm:3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/><\/failed>/,
    );
    next.destroy();
  });
});

describe('caches told of changes made through the other server', () => {
  it('relationships: a relationship made through server B lets a stanza through server A that it blocked before', async () => {
    const erin = await login(a, 'erin', 'e1');
    const frank = await login(b, 'frank', 'f1');
    await seenElsewhere(a, 'frank', 'f1');
    // Server A reads (and keeps) frank's relationships: none, so the message is refused.
    await erin.client.send(xml('message', { to: frank.jid, id: 'm1' }, xml('body', {}, 'blocked')));
    const refusal = await erin.inbox.next((s) => s.is('message') && s.attrs.id === 'm1');
    expect(refusal.attrs.type).toBe('error');
    expect(refusal.getChild('error')?.getChild('service-unavailable')).toBeDefined();
    // Frank asks, erin approves: both through their own servers; the approval's write is server A's, the
    // request's server B's — each announces the owners it changed.
    await frank.client.send(xml('presence', { to: `erin@${domain}`, type: 'subscribe' }));
    await erin.inbox.next((s) => s.is('presence') && s.attrs.type === 'subscribe');
    await erin.client.send(xml('presence', { to: `frank@${domain}`, type: 'subscribed' }));
    await frank.inbox.next((s) => s.is('presence') && s.attrs.type === 'subscribed');
    await erin.client.send(xml('message', { to: frank.jid, id: 'm2' }, xml('body', {}, 'now related')));
    expect((await frank.inbox.next(bodyIs('now related'))).attrs.from).toBe(erin.jid);
    await frank.client.send(xml('message', { to: erin.jid, id: 'm3' }, xml('body', {}, 'back')));
    expect((await erin.inbox.next(bodyIs('back'))).attrs.from).toBe(frank.jid);
  });

  it('SCRAM credentials: a password changed by Message 3 at server A applies at the next login on server B', async () => {
    await a.register('gina', 'old password');
    const first = await login(b, 'gina', 'g1', 'old password');
    await first.client.stop();
    expectStatus(
      await a.http.post(
        `${a.base}/user/modify`,
        form({ ...accountServerAuth, name: 'gina', password: 'new password' }),
      ),
      200,
    );
    await expect(login(b, 'gina', 'g2', 'old password')).rejects.toThrow(/not-authorized/);
    const again = await login(b, 'gina', 'g3', 'new password');
    const pong = await again.client.iqCaller.request(
      xml('iq', { type: 'get', to: domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })),
    );
    expect(pong.attrs.type).toBe('result');
  });

  it('account existence: an account removed by Message 5 at server A is unknown to pushes at server B', async () => {
    await a.register('hal', 'hal pw');
    const push = () =>
      b.http.post(`${b.base}/push`, form({ userid: 'hal', data: 'stored for hal', ...smartlock }));
    expectStatus(await push(), 200);
    expectStatus(
      await a.http.post(`${a.base}/user/remove`, form({ ...accountServerAuth, name: 'hal' })),
      200,
    );
    expectStatus(await push(), 422);
  });

  it('unknown-user salts: both servers answer an unknown user the same salt, a known one its own', async () => {
    const unknown = [await scramSalt(a, 'nobody-here'), await scramSalt(b, 'nobody-here')];
    expect(unknown[0]).toBe(unknown[1]);
    expect(await scramSalt(a, 'someone-else')).not.toBe(unknown[0]);
    const stored = await db.query<{ scram_sha1: { salt: string } }>(
      `SELECT scram_sha1 FROM accounts WHERE local_part = 'alice'`,
    );
    expect(await scramSalt(b, 'alice')).toBe(stored.rows[0]!.scram_sha1.salt);
  });

  it('a removed account is logged out on every server', async () => {
    await a.register('ivy', 'ivy pw');
    await login(b, 'ivy', 'i1');
    expect(b.server.context.router.sessions.resources('ivy').length).toBe(1);
    expectStatus(
      await a.http.post(`${a.base}/user/remove`, form({ ...accountServerAuth, name: 'ivy' })),
      200,
    );
    await expect.poll(() => b.server.context.router.sessions.resources('ivy').length).toBe(0);
    await expect
      .poll(async () => (await db.query(`SELECT 1 FROM online_sessions WHERE local_part = 'ivy'`)).rowCount)
      .toBe(0);
  });
});
