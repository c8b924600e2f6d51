/**
 * Federation between the message servers of two ASs (14543-5-9 clause 8.5) over XMPP s2s on loopback, with
 * @xmpp/client users and devices on each side: relationships with approval and with a device's verification code,
 * presence, messages and iqs, offline storage, p2mp, blocking and device access rights across the boundary,
 * release and account removal — the same rules as inside one AS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client } from '@xmpp/client';
import { form, freePorts, tempDir } from '../../../test/support/irsp.js';
import { XmppClients, presence } from './clients.js';
import { accountServerAuth, startXmppMessageServer, type XmppFixture } from './fixture.js';

const AS1 = 'as1.irsp.test';
const AS2 = 'as2.irsp.test';
const ACCESS = 'urn:irsp:access:0';

let dir: Awaited<ReturnType<typeof tempDir>>;
let as1: XmppFixture;
let as2: XmppFixture;
const in1 = new XmppClients(() => as1);
const in2 = new XmppClients(() => as2);

beforeAll(async () => {
  dir = await tempDir();
  const [s2s1, s2s2, nobody] = await freePorts(3);
  const routes = {
    [AS1]: [{ host: '127.0.0.1', port: s2s1! }],
    [AS2]: [{ host: '127.0.0.1', port: s2s2! }],
    // An AS whose message server is down: connections are refused.
    'as9.irsp.test': [{ host: '127.0.0.1', port: nobody! }],
  };
  const federation = { routes, limits: { bounceTimeoutMs: 5_000, connectTimeoutMs: 2_000 } };
  as1 = await startXmppMessageServer({ domain: AS1, tlsDir: dir.path, s2sPort: s2s1, federation });
  as2 = await startXmppMessageServer({ domain: AS2, tlsDir: dir.path, s2sPort: s2s2, federation });
  for (const name of ['alice', 'erin']) await as1.register(name, `${name} pw`);
  for (const name of ['bob', 'carol', 'dave']) await as2.register(name, `${name} pw`);
  await as2.register('#cam', '#cam pw', { verifycode: 'cam-code' });
  for (const name of ['alice', 'erin']) await (await in1.login(name)).send(xml('presence'));
  for (const name of ['bob', 'carol', 'dave', '#cam']) await (await in2.login(name)).send(xml('presence'));
});

afterAll(async () => {
  await in1.stopAll();
  await in2.stopAll();
  await as2?.close();
  await as1?.close();
  await dir?.remove();
});

const bob = () => in2.get('bob');
const alice = () => in1.get('alice');

describe('a bundle across ASs, with approval', () => {
  it('is blocked before it exists, on the sending side', async () => {
    await in1.messageRefused(alice(), `bob@${AS2}`, 'f0');
  });

  it('a request crosses to AS2 and waits for approval; the approval relates both sides', async () => {
    await alice().send(xml('presence', { to: `bob@${AS2}`, type: 'subscribe' }));
    expect(await in1.pushedItem(alice(), `bob@${AS2}`)).toEqual({
      jid: `bob@${AS2}`,
      subscription: 'none',
      ask: 'subscribe',
    });
    await in2.received(bob(), presence('subscribe', `alice@${AS1}`));
    await bob().send(xml('presence', { to: `alice@${AS1}`, type: 'subscribed' }));
    expect(await in2.pushedItem(bob(), `alice@${AS1}`)).toEqual({
      jid: `alice@${AS1}`,
      subscription: 'both',
    });
    expect(await in1.pushedItem(alice(), `bob@${AS2}`)).toEqual({ jid: `bob@${AS2}`, subscription: 'both' });
    // Each sees the other online (§13).
    await in1.received(
      alice(),
      (s) => s.is('presence') && s.attrs.type === undefined && s.attrs.from === `bob@${AS2}/r`,
    );
    await in2.received(
      bob(),
      (s) => s.is('presence') && s.attrs.type === undefined && s.attrs.from === `alice@${AS1}/r`,
    );
  });

  it('messages and iqs pass both ways', async () => {
    await alice().send(
      xml('message', { to: `bob@${AS2}/r`, type: 'chat' }, xml('body', {}, 'hello from AS1')),
    );
    const there = await in2.received(
      bob(),
      (s) => s.is('message') && s.getChildText('body') === 'hello from AS1',
    );
    expect(there.attrs).toMatchObject({ from: `alice@${AS1}/r`, to: `bob@${AS2}/r`, type: 'chat' });
    await bob().send(xml('message', { to: `alice@${AS1}`, type: 'chat' }, xml('body', {}, 'hello from AS2')));
    const back = await in1.received(
      alice(),
      (s) => s.is('message') && s.getChildText('body') === 'hello from AS2',
    );
    expect(back.attrs).toMatchObject({ from: `bob@${AS2}/r`, to: `alice@${AS1}`, type: 'chat' });
    const pong = await alice().iqCaller.request(
      xml('iq', { type: 'get', to: `bob@${AS2}/r` }, xml('ping', { xmlns: 'urn:xmpp:ping' })),
    );
    expect(pong.attrs).toMatchObject({ type: 'result', from: `bob@${AS2}/r` });
  });

  it('presence changes cross, to related accounts only', async () => {
    await bob().send(xml('presence', {}, xml('status', {}, 'in a meeting')));
    await in1.received(alice(), (s) => s.is('presence') && s.getChildText('status') === 'in a meeting');
    await new Promise((r) => setTimeout(r, 200));
    expect(in1.inbox(in1.get('erin')).some((s) => s.is('presence') && s.attrs.from?.startsWith('bob@'))).toBe(
      false,
    );
  });

  it('a message to a related account that is offline is stored in its AS and delivered at its next login', async () => {
    const carol = in2.get('carol');
    await alice().send(xml('presence', { to: `carol@${AS2}`, type: 'subscribe' }));
    await in2.received(carol, presence('subscribe', `alice@${AS1}`));
    await carol.send(xml('presence', { to: `alice@${AS1}`, type: 'subscribed' }));
    await in1.received(alice(), presence('subscribed', `carol@${AS2}`));
    await carol.stop();
    in2.online.delete('carol');
    await expect.poll(() => as2.server.context.router.sessions.resources('carol').length).toBe(0);
    await alice().send(
      xml('message', { to: `carol@${AS2}`, type: 'chat' }, xml('body', {}, 'while you were away')),
    );
    await expect
      .poll(async () => (await as2.db.query(`SELECT owner FROM offline_messages`)).rows)
      .toEqual([{ owner: 'carol' }]);
    const back = await in2.login('carol');
    await back.send(xml('presence'));
    const stored = await in2.received(
      back,
      (s) => s.is('message') && s.getChildText('body') === 'while you were away',
    );
    expect(stored.attrs.from).toBe(`alice@${AS1}/r`);
    expect(stored.getChild('delay', 'urn:xmpp:delay')?.attrs.from).toBe(AS2);
  });

  it('the receiving AS enforces blocking too: a stanza its rosters do not allow is refused back', async () => {
    // AS2 forgets the bundle on its own side only; AS1 still forwards, AS2 refuses.
    const roster2 = as2.server.context.router.roster;
    await roster2.release(`bob@${AS2}`, `alice@${AS1}`);
    await in1.messageRefused(alice(), `bob@${AS2}`, 'f1');
    expect(in2.inbox(bob()).some((s) => s.attrs.id === 'f1')).toBe(false);
    await roster2.establish(`bob@${AS2}`, `alice@${AS1}`);
  });

  it('an unrelated account of the other AS is blocked', async () => {
    await in2.messageRefused(in2.get('dave'), `alice@${AS1}`, 'f2');
    await in1.messageRefused(in1.get('erin'), `dave@${AS2}`, 'f3');
  });
});

describe('a device of AS2 bound to a user of AS1', () => {
  const cam = () => in2.get('#cam');

  it('the verification code crosses with the request and binds at once; the user of AS1 owns the device', async () => {
    await alice().send(
      xml(
        'presence',
        { to: `#cam@${AS2}`, type: 'subscribe' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, 'cam-code'),
      ),
    );
    // AS1 records the request, AS2 checks the code and relates at once, AS1 follows.
    expect(await in1.pushedItem(alice(), `#cam@${AS2}`)).toEqual({
      jid: `#cam@${AS2}`,
      subscription: 'none',
      ask: 'subscribe',
    });
    expect(await in1.pushedItem(alice(), `#cam@${AS2}`)).toEqual({
      jid: `#cam@${AS2}`,
      subscription: 'both',
    });
    expect(await in2.pushedItem(cam(), `alice@${AS1}`)).toEqual({
      jid: `alice@${AS1}`,
      subscription: 'both',
    });
    expect((await as2.db.query('SELECT device, owner FROM device_owners')).rows).toEqual([
      { device: '#cam', owner: `alice@${AS1}` },
    ]);
    await alice().send(
      xml('message', { to: `#cam@${AS2}`, type: 'chat' }, xml('body', {}, 'start recording')),
    );
    await in2.received(cam(), (s) => s.is('message') && s.getChildText('body') === 'start recording');
  });

  it('a wrong code is refused across the boundary and the request ends', async () => {
    await in1
      .get('erin')
      .send(
        xml(
          'presence',
          { to: `#cam@${AS2}`, type: 'subscribe', id: 'wrong' },
          xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, 'not-the-code'),
        ),
      );
    const error = await in1.received(in1.get('erin'), (s) => s.is('presence') && s.attrs.id === 'wrong');
    expect(error.getChild('error')?.getChild('not-authorized')).toBeDefined();
  });

  it('a p2mp report of the device reaches its owner in AS1', async () => {
    await cam().send(xml('message', { to: `#cam@${AS2}`, type: 'chat' }, xml('body', {}, 'motion detected')));
    const report = await in1.received(
      alice(),
      (s) => s.is('message') && s.getChildText('body') === 'motion detected',
    );
    expect(report.attrs).toMatchObject({ from: `#cam@${AS2}/r`, to: `alice@${AS1}` });
  });

  it('access rights hold across the boundary: the owner in AS1 grants them to a user in AS2', async () => {
    const dave = in2.get('dave');
    await dave.send(xml('presence', { to: `#cam@${AS2}`, type: 'subscribe' }));
    await in2.received(cam(), presence('subscribe', `dave@${AS2}`));
    await cam().send(xml('presence', { to: `dave@${AS2}`, type: 'subscribed' }));
    await in2.received(dave, presence('subscribed', `#cam@${AS2}`));
    await in2.messageRefused(dave, `#cam@${AS2}`, 'd1', 'forbidden', 'auth');

    // The owner manages the device at its bare JID, through AS1's and AS2's message servers.
    const granted = await alice().iqCaller.request(
      xml(
        'iq',
        { type: 'set', to: `#cam@${AS2}` },
        xml('access', { xmlns: ACCESS }, xml('grant', { jid: `dave@${AS2}` })),
      ),
    );
    expect(granted.attrs).toMatchObject({ type: 'result', from: `#cam@${AS2}` });
    const listed = await alice().iqCaller.request(
      xml('iq', { type: 'get', to: `#cam@${AS2}` }, xml('access', { xmlns: ACCESS })),
    );
    expect(listed.getChild('access', ACCESS)?.toString()).toBe(
      `<access xmlns="${ACCESS}" device="#cam@${AS2}" owner="alice@${AS1}"><user jid="dave@${AS2}"/></access>`,
    );
    await in2.messageArrives(dave, cam(), 'pan left');
    // A bound user of the other AS who is not the owner may not manage it.
    await expect(
      in2
        .get('dave')
        .iqCaller.request(xml('iq', { type: 'get', to: `#cam@${AS2}` }, xml('access', { xmlns: ACCESS }))),
    ).rejects.toThrow('forbidden');
  });
});

describe('release and removal across ASs', () => {
  it('a release in AS2 removes both rosters and blocks again', async () => {
    await bob().iqCaller.request(
      xml(
        'iq',
        { type: 'set' },
        xml(
          'query',
          { xmlns: 'jabber:iq:roster' },
          xml('item', { jid: `alice@${AS1}`, subscription: 'remove' }),
        ),
      ),
    );
    expect(await in1.pushedItem(alice(), `bob@${AS2}`)).toEqual({
      jid: `bob@${AS2}`,
      subscription: 'remove',
    });
    await in1.received(
      alice(),
      (s) =>
        s.is('presence') && s.attrs.type === 'unavailable' && s.attrs.from?.startsWith(`bob@${AS2}`) === true,
    );
    await in1.messageRefused(alice(), `bob@${AS2}`, 'f4');
  });

  it('a user of AS1 removed by Message 5 leaves the rosters of AS2, and its device ownership goes', async () => {
    const removed = await as1.http.post(
      `${as1.base}/user/remove`,
      form({ ...accountServerAuth, name: 'alice' }),
    );
    expect(removed.status).toBe(200);
    await expect
      .poll(
        async () =>
          (await as2.db.query(`SELECT owner, contact FROM roster WHERE contact = $1`, [`alice@${AS1}`])).rows,
      )
      .toEqual([]);
    expect((await as2.db.query('SELECT device, owner FROM device_owners')).rows).toEqual([]);
  });
});

describe('an AS that cannot be reached', () => {
  it('a stanza to an AS whose message server is down bounces with remote-server-not-found', async () => {
    const erin: Client = in1.get('erin');
    // Relate erin with an account of that AS (as if it had been up before), then write to it.
    await as1.server.context.router.roster.establish(`erin@${AS1}`, 'zoe@as9.irsp.test');
    await in1.messageRefused(erin, 'zoe@as9.irsp.test', 'nowhere', 'remote-server-not-found');
  });
});
