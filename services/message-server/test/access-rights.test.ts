/**
 * Device access rights (14543-5-8 §9) with @xmpp/client over STARTTLS: the first user bound to a device is its
 * owner; the owner grants and withdraws, per bound user, the right to send the device commands, and may hand the
 * device over; the server enforces the right on messages and iq requests, never on what the device sends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import type { Db } from '@irsp/store';
import { XmppClients, presence } from './clients.js';
import { form } from '../../../test/support/irsp.js';
import { accountServerAuth, startXmppMessageServer, type XmppFixture } from './fixture.js';

const ACCESS = 'urn:irsp:access:0';
const DOOR = '#door@as1.irsp.test';
const jid = (local: string) => `${local}@as1.irsp.test`;

let fixture: XmppFixture;
let db: Db;
const clients = new XmppClients(() => fixture);

/** An access iq to the server; resolves with the result or rejects with the error's `condition - text`. */
function accessIq(
  client: Client,
  type: 'get' | 'set',
  attrs: Record<string, string>,
  ...children: XmlElement[]
) {
  return client.iqCaller.request(
    xml('iq', { type }, xml('access', { xmlns: ACCESS, ...attrs }, ...children)),
  );
}

async function described(client: Client, device = DOOR) {
  const result = await accessIq(client, 'get', { device });
  const access = result.getChild('access', ACCESS)!;
  return {
    attrs: access.attrs,
    users: access.getChildren('user').map((u) => u.attrs.jid),
  };
}

async function iqToDoorRefused(from: Client, id: string): Promise<XmlElement> {
  await from.send(
    xml('iq', { type: 'set', id, to: `${DOOR}/r` }, xml('command', { xmlns: 'urn:example:lock' }, 'open')),
  );
  return clients.received(from, (s) => s.is('iq') && s.attrs.id === id);
}

beforeAll(async () => {
  fixture = await startXmppMessageServer();
  db = fixture.db;
  for (const name of ['olivia', 'paul', 'rita']) await fixture.register(name, `${name} pw`);
  await fixture.register('#door', '#door pw', { verifycode: 'door-code' });

  // olivia binds the door with its code (and becomes its owner); paul asks and the door approves.
  const olivia = await clients.login('olivia');
  const paul = await clients.login('paul');
  await clients.login('rita');
  const door = await clients.login('#door');
  for (const client of [olivia, paul, door]) await client.send(xml('presence'));
  await clients.bindWithCode(olivia, '#door', 'door-code');
  await paul.send(xml('presence', { to: DOOR, type: 'subscribe' }));
  await clients.received(door, presence('subscribe', jid('paul')));
  await door.send(xml('presence', { to: jid('paul'), type: 'subscribed' }));
  await clients.received(paul, presence('subscribed', DOOR));
});

afterAll(async () => {
  await clients.stopAll();
  await fixture?.close();
});

describe('ownership and the command right', () => {
  it('the first user bound is the owner; the door lists no other user with the right', async () => {
    expect(await described(clients.get('olivia'))).toEqual({
      attrs: { xmlns: ACCESS, device: DOOR, owner: jid('olivia') },
      users: [],
    });
    const rows = await db.query('SELECT device, owner FROM device_owners');
    expect(rows.rows).toEqual([{ device: '#door', owner: jid('olivia') }]);
  });

  it('the owner commands the device with messages and iqs', async () => {
    const door = clients.get('#door');
    await clients.messageArrives(clients.get('olivia'), door, 'open');
    const olivia = clients.get('olivia');
    door.iqCallee.get('urn:example:lock', 'state', () =>
      xml('state', { xmlns: 'urn:example:lock' }, 'locked'),
    );
    const answer = await olivia.iqCaller.request(
      xml('iq', { type: 'get', to: `${DOOR}/r` }, xml('state', { xmlns: 'urn:example:lock' })),
    );
    expect(answer.attrs).toMatchObject({ type: 'result', from: `${DOOR}/r` });
    expect(answer.getChildText('state', 'urn:example:lock')).toBe('locked');
  });

  it('a bound user without the right gets forbidden for messages and iq requests', async () => {
    const paul = clients.get('paul');
    await clients.messageRefused(paul, DOOR, 'p1', 'forbidden', 'auth');
    const refused = await iqToDoorRefused(paul, 'p2');
    expect(refused.attrs.type).toBe('error');
    expect(refused.getChild('error')?.attrs.type).toBe('auth');
    expect(refused.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBe(
      'no right to send this device commands',
    );
    expect(clients.inbox(clients.get('#door')).some((s) => s.attrs.id === 'p1' || s.attrs.id === 'p2')).toBe(
      false,
    );
  });

  it('…but sees the device online and receives what it sends', async () => {
    const door = clients.get('#door');
    const paul = clients.get('paul');
    await clients.received(paul, (s) => s.is('presence') && s.attrs.from === `${DOOR}/r`);
    await clients.messageArrives(door, paul, 'door opened by olivia');
    await door.send(xml('message', { to: DOOR, type: 'chat' }, xml('body', {}, 'battery low')));
    await clients.received(paul, (s) => s.is('message') && s.getChildText('body') === 'battery low');
  });

  it('the owner grants the right: paul commands the door', async () => {
    const olivia = clients.get('olivia');
    const result = await accessIq(olivia, 'set', { device: DOOR }, xml('grant', { jid: jid('paul') }));
    expect(result.attrs.type).toBe('result');
    expect((await described(olivia)).users).toEqual([jid('paul')]);
    await clients.messageArrives(clients.get('paul'), clients.get('#door'), 'lock at 22:00');
  });

  it('the owner withdraws it: forbidden again', async () => {
    const olivia = clients.get('olivia');
    await accessIq(olivia, 'set', { device: DOOR }, xml('revoke', { jid: jid('paul') }));
    expect((await described(olivia)).users).toEqual([]);
    await clients.messageRefused(clients.get('paul'), DOOR, 'p3', 'forbidden', 'auth');
  });
});

describe('who may read and change the rights', () => {
  it('the device reads its own rights without naming itself', async () => {
    const result = await accessIq(clients.get('#door'), 'get', {});
    expect(result.getChild('access', ACCESS)?.attrs).toEqual({
      xmlns: ACCESS,
      device: DOOR,
      owner: jid('olivia'),
    });
  });

  it('a bound user who is not the owner: forbidden, for reading and changing', async () => {
    const paul = clients.get('paul');
    await expect(described(paul)).rejects.toThrow(
      'forbidden - only the device or its owner manages its access rights',
    );
    await expect(accessIq(paul, 'set', { device: DOOR }, xml('grant', { jid: jid('paul') }))).rejects.toThrow(
      'forbidden - only the device or its owner manages its access rights',
    );
  });

  it('refusals for a malformed or unknown device', async () => {
    const olivia = clients.get('olivia');
    await expect(accessIq(olivia, 'get', {})).rejects.toThrow(
      'bad-request - name the device in the device attribute',
    );
    await expect(accessIq(olivia, 'get', { device: jid('paul') })).rejects.toThrow(
      'jid-malformed - device must be the bare JID of a device',
    );
    await expect(accessIq(olivia, 'get', { device: `${DOOR}/r` })).rejects.toThrow('jid-malformed');
    await expect(accessIq(olivia, 'get', { device: '#door@as2.irsp.test' })).rejects.toThrow(
      'item-not-found - no such device in this AS',
    );
    await expect(accessIq(olivia, 'get', { device: '#nodoor@as1.irsp.test' })).rejects.toThrow(
      'item-not-found - no such device in this AS',
    );
  });

  it('malformed changes: bad-request, and nothing changes', async () => {
    const olivia = clients.get('olivia');
    const bad = 'bad-request - expected grant, revoke or one owner, each with a bare jid';
    await expect(accessIq(olivia, 'set', { device: DOOR }, xml('grant'))).rejects.toThrow(bad);
    await expect(
      accessIq(olivia, 'set', { device: DOOR }, xml('grant', { jid: `${jid('paul')}/r` })),
    ).rejects.toThrow(bad);
    await expect(
      accessIq(olivia, 'set', { device: DOOR }, xml('allow', { jid: jid('paul') })),
    ).rejects.toThrow(bad);
    await expect(
      accessIq(
        olivia,
        'set',
        { device: DOOR },
        xml('owner', { jid: jid('paul') }),
        xml('owner', { jid: jid('paul') }),
      ),
    ).rejects.toThrow(bad);
    await expect(accessIq(olivia, 'set', { device: DOOR })).rejects.toThrow(
      'bad-request - nothing to change',
    );
    expect(await described(olivia)).toEqual({
      attrs: { xmlns: ACCESS, device: DOOR, owner: jid('olivia') },
      users: [],
    });
  });

  it('a right only for users bound to the device, all or none', async () => {
    const olivia = clients.get('olivia');
    await expect(
      accessIq(
        olivia,
        'set',
        { device: DOOR },
        xml('grant', { jid: jid('paul') }),
        xml('grant', { jid: jid('rita') }),
      ),
    ).rejects.toThrow('item-not-found - rita@as1.irsp.test is not a user bound to the device');
    await expect(accessIq(olivia, 'set', { device: DOOR }, xml('grant', { jid: DOOR }))).rejects.toThrow(
      'item-not-found - #door@as1.irsp.test is not a user bound to the device',
    );
    expect((await described(olivia)).users).toEqual([]);
    // rita is not even related: blocked before any right is looked at.
    await clients.messageRefused(clients.get('rita'), DOOR, 'r1');
  });
});

describe('handing over, the owner resetting the verification code, and release', () => {
  it('the owner hands the device to paul and keeps the right as a granted user', async () => {
    const olivia = clients.get('olivia');
    await accessIq(olivia, 'set', { device: DOOR }, xml('owner', { jid: jid('paul') }));
    expect(await described(clients.get('paul'))).toEqual({
      attrs: { xmlns: ACCESS, device: DOOR, owner: jid('paul') },
      users: [jid('olivia')],
    });
    await clients.messageArrives(clients.get('paul'), clients.get('#door'), 'paul owns me');
    await clients.messageArrives(olivia, clients.get('#door'), 'olivia still may');
    await expect(
      accessIq(olivia, 'set', { device: DOOR }, xml('revoke', { jid: jid('olivia') })),
    ).rejects.toThrow('forbidden');
  });

  it('the new owner resets the verification code by naming the device: Message 7 is queued', async () => {
    const result = await clients
      .get('paul')
      .iqCaller.request(
        xml(
          'iq',
          { type: 'set' },
          xml('verifycode', { xmlns: 'urn:irsp:verifycode:0', device: DOOR }, 'new-door-code'),
        ),
      );
    expect(result.attrs.type).toBe('result');
    const queued = await db.query(`SELECT operation, params FROM outbox WHERE ordering_key = '#door'`);
    expect(queued.rows).toEqual([
      { operation: 'modifyVerifyCode', params: { deviceid: '#door', verifycode: 'new-door-code' } },
    ]);
    await expect(
      clients
        .get('olivia')
        .iqCaller.request(
          xml(
            'iq',
            { type: 'set' },
            xml('verifycode', { xmlns: 'urn:irsp:verifycode:0', device: DOOR }, 'mine'),
          ),
        ),
    ).rejects.toThrow('forbidden - only the device or its owner resets its verification code');
  });

  it('the owner releases the binding: the door has no owner until it names one', async () => {
    const paul = clients.get('paul');
    await paul.iqCaller.request(
      xml(
        'iq',
        { type: 'set' },
        xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: DOOR, subscription: 'remove' })),
      ),
    );
    const door = clients.get('#door');
    await expect
      .poll(async () => (await accessIq(door, 'get', {})).getChild('access', ACCESS)?.attrs.owner)
      .toBe(undefined);
    const rows = await db.query('SELECT device, user_jid FROM access_rights');
    expect(rows.rows).toEqual([{ device: '#door', user_jid: jid('olivia') }]);
    // The device names olivia, still bound, as its owner.
    await accessIq(door, 'set', {}, xml('owner', { jid: jid('olivia') }));
    expect(await described(clients.get('olivia'))).toEqual({
      attrs: { xmlns: ACCESS, device: DOOR, owner: jid('olivia') },
      users: [],
    });
  });

  it("a removed user's rights and ownership go with it (Message 5)", async () => {
    const olivia = clients.get('olivia');
    olivia.on('error', () => undefined);
    const removed = await fixture.http.post(
      `${fixture.base}/user/remove`,
      form({ ...accountServerAuth, name: 'olivia' }),
    );
    expect(removed.status).toBe(200);
    await expect.poll(async () => (await db.query('SELECT owner FROM device_owners')).rows).toEqual([]);
    expect((await db.query('SELECT user_jid FROM access_rights')).rows).toEqual([]);
  });
});
