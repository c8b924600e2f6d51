/**
 * Relationships (14543-5-8 §10) as rosters with presence subscription (RFC 6121): establishment with the target's
 * approval and with a device's verification code, release by either side, roster pushes, presence only between
 * related accounts, and the blocking rule of clause 7.2 before and after — with @xmpp/client over STARTTLS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client } from '@xmpp/client';
import type { MessageServer } from '@irsp/message-server';
import type { Db } from '@irsp/store';
import { form } from '../../../test/support/irsp.js';
import { ROSTER, XmppClients, presence } from './clients.js';
import { accountServerAuth as auth, startXmppMessageServer, type XmppFixture } from './fixture.js';

let fixture: XmppFixture;
let db: Db;
let server: MessageServer;
const clients = new XmppClients(() => fixture);
const online = clients.online;

beforeAll(async () => {
  fixture = await startXmppMessageServer({ offline: { maxPerRecipient: 3 } });
  ({ db, server } = fixture);
  for (const name of ['alice', 'carol', 'dave', 'eve', 'frank', 'grace'])
    await fixture.register(name, `${name} pw`);
  await fixture.register('#lock1', '#lock1 pw', { verifycode: 'vc-lock-1234' });
  await fixture.register('#lock2', '#lock2 pw');
});

afterAll(async () => {
  await clients.stopAll();
  await fixture?.close();
});

describe('a bundle between two users, with approval (§10)', () => {
  it('is blocked before the relationship exists', async () => {
    const alice = await clients.login('alice');
    const carol = await clients.login('carol');
    await alice.send(xml('presence'));
    await carol.send(xml('presence'));
    await clients.messageRefused(alice, 'carol@as1.irsp.test', 'before');
    expect(clients.inbox(carol)!.some((s) => s.is('presence') && s.attrs.from?.startsWith('alice@'))).toBe(
      false,
    );
  });

  it('a request reaches the target, waits for its approval, then both rosters say both', async () => {
    const alice = online.get('alice')!;
    const carol = online.get('carol')!;
    await alice.send(xml('presence', { to: 'carol@as1.irsp.test', type: 'subscribe' }));
    expect(await clients.pushedItem(alice, 'carol@as1.irsp.test')).toEqual({
      jid: 'carol@as1.irsp.test',
      subscription: 'none',
      ask: 'subscribe',
    });
    const request = await clients.received(carol, presence('subscribe', 'alice@as1.irsp.test'));
    expect(request.attrs.to).toBe('carol@as1.irsp.test');
    await clients.messageRefused(alice, 'carol@as1.irsp.test', 'pending');

    await carol.send(xml('presence', { to: 'alice@as1.irsp.test', type: 'subscribed' }));
    expect(await clients.pushedItem(carol, 'alice@as1.irsp.test')).toEqual({
      jid: 'alice@as1.irsp.test',
      subscription: 'both',
    });
    expect(await clients.pushedItem(alice, 'carol@as1.irsp.test')).toEqual({
      jid: 'carol@as1.irsp.test',
      subscription: 'both',
    });
    await clients.received(alice, presence('subscribed', 'carol@as1.irsp.test'));
    // Each now sees the other online (§13).
    await clients.received(
      alice,
      (s) => s.is('presence') && s.attrs.type === undefined && s.attrs.from === 'carol@as1.irsp.test/r',
    );
    await clients.received(
      carol,
      (s) => s.is('presence') && s.attrs.type === undefined && s.attrs.from === 'alice@as1.irsp.test/r',
    );
    expect(await clients.rosterOf(alice)).toEqual([{ jid: 'carol@as1.irsp.test', subscription: 'both' }]);
  });

  it('messages and iqs now pass between them', async () => {
    const alice = online.get('alice')!;
    const carol = online.get('carol')!;
    const message = await clients.messageArrives(alice, carol, 'hello carol');
    expect(message.attrs.from).toBe('alice@as1.irsp.test/r');
  });

  it('presence goes to related accounts only, and unavailable on logout', async () => {
    const eve = await clients.login('eve');
    await eve.send(xml('presence'));
    const carol = online.get('carol')!;
    await online.get('alice')!.send(xml('presence', {}, xml('status', {}, 'busy')));
    await clients.received(carol, (s) => s.is('presence') && s.getChildText('status') === 'busy');
    await new Promise((r) => setTimeout(r, 200));
    expect(clients.inbox(eve)!.some((s) => s.is('presence') && s.attrs.from?.startsWith('alice@'))).toBe(
      false,
    );
  });

  it('a request to an offline user is delivered at its next login; a refusal tells the requester', async () => {
    const alice = online.get('alice')!;
    await alice.send(xml('presence', { to: 'dave@as1.irsp.test', type: 'subscribe' }));
    await clients.pushedItem(alice, 'dave@as1.irsp.test');
    const dave = await clients.login('dave');
    expect(await clients.rosterOf(dave)).toEqual([]);
    await clients.received(dave, presence('subscribe', 'alice@as1.irsp.test'));
    await dave.send(xml('presence', { to: 'alice@as1.irsp.test', type: 'unsubscribed' }));
    await clients.received(alice, presence('unsubscribed', 'dave@as1.irsp.test'));
    expect(await clients.pushedItem(alice, 'dave@as1.irsp.test')).toEqual({
      jid: 'dave@as1.irsp.test',
      subscription: 'none',
    });
    await clients.messageRefused(alice, 'dave@as1.irsp.test', 'refused');
  });

  it('a request to an account that does not exist: item-not-found', async () => {
    const alice = online.get('alice')!;
    await alice.send(xml('presence', { to: 'ghost@as1.irsp.test', type: 'subscribe', id: 'g1' }));
    const error = await clients.received(alice, (s) => s.is('presence') && s.attrs.id === 'g1');
    expect(error.attrs.type).toBe('error');
    expect(error.getChild('error')?.getChild('item-not-found')).toBeDefined();
  });
});

describe('a binding between a user and a device, with the verification code (§10, §10.5)', () => {
  it('a wrong code is refused with not-authorized and nothing is established', async () => {
    const alice = online.get('alice')!;
    await alice.send(
      xml(
        'presence',
        { to: '#lock1@as1.irsp.test', type: 'subscribe', id: 'v1' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, 'wrong'),
      ),
    );
    const error = await clients.received(alice, (s) => s.is('presence') && s.attrs.id === 'v1');
    expect(error.getChild('error')?.attrs.type).toBe('auth');
    expect(error.getChild('error')?.getChild('not-authorized')).toBeDefined();
    await clients.messageRefused(alice, '#lock1@as1.irsp.test', 'nolock');
  });

  it('the right code binds the device at once, without its approval, even while it is offline', async () => {
    const alice = online.get('alice')!;
    await alice.send(
      xml(
        'presence',
        { to: '#lock1@as1.irsp.test', type: 'subscribe' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, 'vc-lock-1234'),
      ),
    );
    expect(await clients.pushedItem(alice, '#lock1@as1.irsp.test')).toEqual({
      jid: '#lock1@as1.irsp.test',
      subscription: 'both',
    });
    await clients.received(alice, presence('subscribed', '#lock1@as1.irsp.test'));
    const lock = await clients.login('#lock1');
    expect(await clients.rosterOf(lock)).toEqual([{ jid: 'alice@as1.irsp.test', subscription: 'both' }]);
    await lock.send(xml('presence'));
    await clients.received(alice, (s) => s.is('presence') && s.attrs.from === '#lock1@as1.irsp.test/r');
    await clients.messageArrives(lock, alice, 'door locked');
    await clients.messageArrives(alice, lock, 'unlock');
  });

  it('a device reports to all related users in one stanza: a message to its own bare JID (p2mp, §11)', async () => {
    const lock = online.get('#lock1')!;
    const alice = online.get('alice')!;
    await lock.send(
      xml('message', { to: '#lock1@as1.irsp.test', type: 'chat' }, xml('body', {}, 'tamper alarm')),
    );
    const report = await clients.received(
      alice,
      (s) => s.is('message') && s.getChildText('body') === 'tamper alarm',
    );
    expect(report.attrs).toMatchObject({ from: '#lock1@as1.irsp.test/r', to: 'alice@as1.irsp.test' });
    // Unrelated accounts get nothing.
    await new Promise((r) => setTimeout(r, 200));
    expect(clients.inbox(online.get('eve')!)!.some((s) => s.getChildText?.('body') === 'tamper alarm')).toBe(
      false,
    );
  });

  it('a device without a code cannot be bound by code', async () => {
    const alice = online.get('alice')!;
    await alice.send(
      xml(
        'presence',
        { to: '#lock2@as1.irsp.test', type: 'subscribe', id: 'v2' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, ''),
      ),
    );
    const error = await clients.received(alice, (s) => s.is('presence') && s.attrs.id === 'v2');
    expect(error.getChild('error')?.getChild('not-authorized')).toBeDefined();
  });
});

describe('verification code reset over XMPP (§10.5)', () => {
  const reset = (client: Client, code: string) =>
    client.iqCaller.request(
      xml('iq', { type: 'set' }, xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, code)),
    );

  it('a device sets a new code: it binds from then on, and Message 7 is queued for the account server', async () => {
    const lock2 = await clients.login('#lock2');
    expect((await reset(lock2, 'vc-new-5678')).attrs.type).toBe('result');
    const queued = await db.query<{ operation: string; params: Record<string, string> }>(
      `SELECT operation, params FROM outbox WHERE ordering_key = '#lock2'`,
    );
    expect(queued.rows).toEqual([
      { operation: 'modifyVerifyCode', params: { deviceid: '#lock2', verifycode: 'vc-new-5678' } },
    ]);
    const alice = online.get('alice')!;
    await alice.send(
      xml(
        'presence',
        { to: '#lock2@as1.irsp.test', type: 'subscribe' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, 'vc-new-5678'),
      ),
    );
    expect(await clients.pushedItem(alice, '#lock2@as1.irsp.test')).toEqual({
      jid: '#lock2@as1.irsp.test',
      subscription: 'both',
    });
  });

  it('a user must name the device (bad-request), and only its owner may (forbidden)', async () => {
    await expect(reset(online.get('alice')!, 'x')).rejects.toThrow(
      'bad-request - name the device in the device attribute',
    );
    const eve = online.get('eve')!;
    await expect(
      eve.iqCaller.request(
        xml(
          'iq',
          { type: 'set' },
          xml('verifycode', { xmlns: 'urn:irsp:verifycode:0', device: '#lock2@as1.irsp.test' }, 'x'),
        ),
      ),
    ).rejects.toThrow('forbidden - only the device or its owner resets its verification code');
  });
});

describe('release and removal', () => {
  it('either side releases: both rosters lose the item and the pair is blocked again', async () => {
    const alice = online.get('alice')!;
    const carol = online.get('carol')!;
    const result = await carol.iqCaller.request(
      xml(
        'iq',
        { type: 'set' },
        xml('query', { xmlns: ROSTER }, xml('item', { jid: 'alice@as1.irsp.test', subscription: 'remove' })),
      ),
    );
    expect(result.attrs.type).toBe('result');
    expect(await clients.pushedItem(carol, 'alice@as1.irsp.test')).toEqual({
      jid: 'alice@as1.irsp.test',
      subscription: 'remove',
    });
    expect(await clients.pushedItem(alice, 'carol@as1.irsp.test')).toEqual({
      jid: 'carol@as1.irsp.test',
      subscription: 'remove',
    });
    await clients.received(
      alice,
      (s) => s.is('presence') && s.attrs.type === 'unavailable' && s.attrs.from === 'carol@as1.irsp.test/r',
    );
    await clients.messageRefused(alice, 'carol@as1.irsp.test', 'after-release');
  });

  it("a device removed by Message 6 disappears from its owner's roster", async () => {
    const alice = online.get('alice')!;
    expect(
      (await fixture.http.post(`${fixture.base}/device/remove`, form({ ...auth, name: '#lock1' }))).status,
    ).toBe(200);
    expect(await clients.pushedItem(alice, '#lock1@as1.irsp.test')).toEqual({
      jid: '#lock1@as1.irsp.test',
      subscription: 'remove',
    });
    expect(await clients.rosterOf(alice)).toEqual([
      { jid: '#lock2@as1.irsp.test', subscription: 'both' },
      { jid: 'dave@as1.irsp.test', subscription: 'none' },
    ]);
  });
});

describe('offline storage (§11, XEP-0160)', () => {
  it('messages to a related account that is offline are stored, up to its limit', async () => {
    const frank = await clients.login('frank');
    const grace = await clients.login('grace');
    await frank.send(xml('presence', { to: 'grace@as1.irsp.test', type: 'subscribe' }));
    await clients.received(grace, presence('subscribe', 'frank@as1.irsp.test'));
    await grace.send(xml('presence', { to: 'frank@as1.irsp.test', type: 'subscribed' }));
    await clients.received(frank, presence('subscribed', 'grace@as1.irsp.test'));
    await grace.stop();
    online.delete('grace');
    await expect.poll(() => server.context.router.sessions.resources('grace').length).toBe(0);

    for (const n of [1, 2, 3]) {
      await frank.send(
        xml(
          'message',
          { to: 'grace@as1.irsp.test', type: 'chat', id: `o${n}` },
          xml('body', {}, `while away ${n}`),
        ),
      );
    }
    await frank.send(
      xml('message', { to: 'grace@as1.irsp.test', type: 'chat', id: 'o4' }, xml('body', {}, 'one too many')),
    );
    const full = await clients.received(frank, (s) => s.is('message') && s.attrs.id === 'o4');
    expect(full.attrs.type).toBe('error');
    expect(full.getChild('error')?.attrs.type).toBe('wait');
    expect(full.getChild('error')?.getChild('resource-constraint')).toBeDefined();
    expect(
      clients
        .inbox(frank)
        .some((s) => s.attrs.type === 'error' && s.attrs.id?.startsWith('o') && s.attrs.id !== 'o4'),
    ).toBe(false);
    const rows = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM offline_messages WHERE owner = 'grace'",
    );
    expect(rows.rows[0]!.n).toBe(3);
  });

  it('an unrelated sender is still blocked, and nothing is stored for it', async () => {
    await clients.messageRefused(online.get('eve')!, 'grace@as1.irsp.test', 'eve-offline');
    const rows = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM offline_messages WHERE owner = 'grace'",
    );
    expect(rows.rows[0]!.n).toBe(3);
  });

  it('they arrive in order with XEP-0203 delay stamps at the next initial presence, and are then deleted', async () => {
    const grace = await clients.login('grace', 'back');
    expect(clients.inbox(grace)!.some((s) => s.is('message'))).toBe(false);
    await grace.send(xml('presence'));
    const bodies: string[] = [];
    for (const n of [1, 2, 3]) {
      const message = await clients.received(
        grace,
        (s) => s.is('message') && s.getChildText('body') === `while away ${n}`,
      );
      bodies.push(message.getChildText('body')!);
      expect(message.attrs.from).toBe('frank@as1.irsp.test/r');
      const delay = message.getChild('delay', 'urn:xmpp:delay');
      expect(delay?.attrs.from).toBe('as1.irsp.test');
      expect(Date.now() - Date.parse(delay!.attrs.stamp!)).toBeLessThan(60_000);
    }
    expect(bodies).toEqual(['while away 1', 'while away 2', 'while away 3']);
    await expect
      .poll(
        async () =>
          (
            await db.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM offline_messages WHERE owner = 'grace'",
            )
          ).rows[0]!.n,
      )
      .toBe(0);
  });
});
