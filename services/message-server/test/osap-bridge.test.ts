/**
 * An OSAP device is an IRSP device (issue 14 item 5, decision 0027), over real sockets: the device (OsapDevice: LBS
 * over TLS, then MQTT over TLS) and @xmpp/client users on one message server. Its related users see it available
 * and unavailable (Messages 10 and 11 in order at the application server), receive its events (stored for one
 * offline), read its reported attributes; the owner operates it and gets its result, a related user without the
 * right and an unrelated one are refused without the device seeing anything, a device that does not answer times
 * out; Message 13 to it while offline reaches it at its connection; a packet above the cap disconnects it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import type { ApplicationServerConfig } from '@irsp/config';
import type { OperationDown, ProtocolGroup } from '@irsp/osap';
import { OsapDevice } from '@irsp/osap-device';
import { form, freePorts } from '../../../test/support/irsp.js';
import { XmppClients, presence } from './clients.js';
import { DOMAIN, startXmppMessageServer, type XmppFixture } from './fixture.js';

const OSAP = 'urn:irsp:osap:0';
const ITERATIONS = 1000;
const PROTOCOL: { type: number; group: ProtocolGroup } = { type: 1, group: [1, 2, 4, 8] };
const CAM = `#cam@${DOMAIN}`;
const jid = (local: string) => `${local}@${DOMAIN}`;
const app: ApplicationServerConfig = {
  name: 'recorder',
  url: 'https://127.0.0.1:1',
  listen: { host: '127.0.0.1', port: 0 },
  jid: `recorder.${DOMAIN}`,
  credentials: { appid: 'recorder', token: 'recorder-token-0123456789' },
  deviceStatus: true,
  serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/x' },
};

let fixture: XmppFixture;
const clients = new XmppClients(() => fixture);
/** What the device's operation handler saw, and what it answers (undefined: nothing, so the requester times out). */
const operations: OperationDown[] = [];
const answers = new Map<string, string>();

function camera(serial = 'cam'): OsapDevice {
  return new OsapDevice({
    serialNumber: serial,
    verificationCode: `${serial}-code`,
    lbs: { host: '127.0.0.1', port: fixture.lbsPort! },
    ca: fixture.ca,
    supports: [{ protocolType: PROTOCOL.type, protocolGroup: PROTOCOL.group }],
    shareKeyIterations: ITERATIONS,
    onOperation: (operation) => {
      operations.push(operation);
      return answers.get(operation.data);
    },
  });
}
let cam: OsapDevice;
/** The camera's full JID while it is connected. */
let camJid: string;

async function outbox(local: string) {
  const r = await fixture.db.query<{ operation: string }>(
    'SELECT operation FROM outbox WHERE ordering_key = $1 ORDER BY id',
    [`recorder:${local}`],
  );
  return r.rows.map((row) => row.operation);
}

const offlineRows = async (owner: string) =>
  (await fixture.db.query('SELECT 1 FROM offline_messages WHERE owner = $1', [owner])).rows.length;

/** An iq to the camera; resolves with the answer, result or error. */
async function iq(client: Client, type: 'get' | 'set', child: XmlElement, to = CAM): Promise<XmlElement> {
  const id = `iq-${Math.random().toString(36).slice(2)}`;
  await client.send(xml('iq', { type, id, to }, child));
  return clients.received(client, (s) => s.is('iq') && s.attrs.id === id, 10_000);
}

const availableFrom = (from: string) => (s: XmlElement) =>
  s.is('presence') && s.attrs.type === undefined && s.attrs.from?.startsWith(from) === true;

const errorOf = (stanza: XmlElement) => {
  const error = stanza.getChild('error');
  const condition = error?.children.find((c): c is XmlElement => typeof c !== 'string' && c.name !== 'text');
  return { type: stanza.attrs.type, errorType: error?.attrs.type, condition: condition?.name };
};

beforeAll(async () => {
  const [dasPort] = await freePorts(1);
  fixture = await startXmppMessageServer({
    applicationServers: [app],
    osap: {
      lbs: { host: '127.0.0.1', port: 0, idleTimeoutMs: 10_000, exchangeTimeoutMs: 30_000 },
      protocol: PROTOCOL,
      shareKeyIterations: ITERATIONS,
      das: [{ host: '127.0.0.1', port: dasPort!, capacity: 100, enabled: true }],
      dasListener: {
        host: '127.0.0.1',
        port: dasPort!,
        maxHeartbeatSeconds: 60,
        maxDevices: 10,
        connectTimeoutMs: 5_000,
        maxPacketBytes: 4096,
        operationTimeoutMs: 1_500,
      },
    },
  });
  for (const name of ['olivia', 'paul', 'rita']) await fixture.register(name, `${name} pw`);
  await fixture.register('#cam', '#cam pw', { verifycode: 'cam-code' });
  // olivia binds the camera first (its owner, §9); paul binds it too and has no command right; rita is unrelated.
  for (const name of ['olivia', 'paul', 'rita']) {
    const client = await clients.login(name);
    await client.send(xml('presence'));
  }
  await clients.bindWithCode(clients.get('olivia'), '#cam', 'cam-code');
  await clients.bindWithCode(clients.get('paul'), '#cam', 'cam-code');
  cam = camera();
  await cam.authenticate();
}, 120_000);

afterAll(async () => {
  await cam?.disconnect();
  await clients.stopAll();
  await fixture?.close();
});

describe('an OSAP device online is an online device', () => {
  it('is available to related users from its CONNACK and unavailable after it leaves; Message 11 after 10', async () => {
    const olivia = clients.get('olivia');
    await cam.connect();
    const available = await clients.received(olivia, availableFrom(`${CAM}/osap-`));
    expect(available.attrs.from).toMatch(new RegExp(`^${CAM}/osap-[0-9a-f]{12}$`));
    // A resource of a related user that comes online later is sent the device's current presence.
    const paul = clients.get('paul');
    const later = await clients.login('paul', 'later');
    await later.send(xml('presence'));
    await clients.received(later, availableFrom(available.attrs.from!));
    await later.stop();
    clients.online.set('paul', paul);
    // The unrelated user sees nothing.
    expect(clients.inbox(clients.get('rita')).some((s) => s.attrs.from?.startsWith(CAM) === true)).toBe(
      false,
    );
    await cam.disconnect();
    await clients.received(olivia, presence('unavailable', available.attrs.from!));
    await expect.poll(() => outbox('#cam')).toEqual(['deviceOnline', 'deviceOffline']);
  });
});

describe('its events, attributes and operations', () => {
  beforeAll(async () => {
    await cam.connect();
    camJid = (await clients.received(clients.get('olivia'), availableFrom(`${CAM}/osap-`))).attrs.from!;
  });

  it('sends its event to every related user, stored for one offline, and as Message 9', async () => {
    const paul = clients.get('paul');
    await paul.stop();
    clients.online.delete('paul');
    const sessions = async () =>
      (await fixture.db.query(`SELECT 1 FROM online_sessions WHERE local_part = 'paul'`)).rows.length;
    await expect.poll(sessions).toBe(0);
    await cam.event('motion at the door');
    // The PUBACK came after the storage: paul's copy is there already.
    expect(await offlineRows('paul')).toBe(1);
    const live = await clients.received(
      clients.get('olivia'),
      (s) => s.is('message') && s.getChildText('body') === 'motion at the door',
    );
    expect(live.attrs.from).toMatch(new RegExp(`^${CAM}/osap-`));
    expect(live.attrs.to).toBe(jid('olivia'));
    expect(live.getChild('event', OSAP)).toBeDefined();
    const back = await clients.login('paul');
    await back.send(xml('presence'));
    const stored = await clients.received(
      back,
      (s) => s.is('message') && s.getChildText('body') === 'motion at the door',
    );
    expect(stored.getChild('delay', 'urn:xmpp:delay')?.attrs.from).toBe(DOMAIN);
    expect(clients.inbox(clients.get('rita')).some((s) => s.is('message'))).toBe(false);
    expect(await outbox('#cam')).toContain('deviceUpload');
  });

  it('keeps its reported attributes for related users to read; an unrelated user is refused', async () => {
    await cam.attributes({ battery: 87, mode: 'away', armed: true });
    await cam.attributes({ battery: 86 });
    for (const name of ['olivia', 'paul']) {
      const answer = await iq(clients.get(name), 'get', xml('attributes', { xmlns: OSAP }));
      expect(answer.attrs.type).toBe('result');
      const attributes = answer.getChild('attributes', OSAP)!.getChildren('attribute');
      expect(attributes.map((a) => [a.attrs.name, a.children.join('')])).toEqual([
        ['armed', 'true'],
        ['battery', '86'],
        ['mode', 'away'],
      ]);
      expect(Number.isNaN(Date.parse(attributes[0]!.attrs.reported!))).toBe(false);
    }
    const refused = await iq(clients.get('rita'), 'get', xml('attributes', { xmlns: OSAP }));
    expect(errorOf(refused)).toEqual({
      type: 'error',
      errorType: 'cancel',
      condition: 'service-unavailable',
    });
    expect(refused.getChild('attributes', OSAP)).toBeUndefined();
  });

  it('lets its owner operate it and get the result; others are refused before the device sees anything', async () => {
    answers.set('siren on', 'siren is on');
    const before = operations.length;
    const answer = await iq(clients.get('olivia'), 'set', xml('operate', { xmlns: OSAP }, 'siren on'));
    expect(answer.attrs.type).toBe('result');
    expect(answer.getChildText('result', OSAP)).toBe('siren is on');
    expect(operations.slice(before).map((o) => [o.from, o.data])).toEqual([[jid('olivia'), 'siren on']]);
    // To its full JID as well.
    const direct = await iq(
      clients.get('olivia'),
      'set',
      xml('operate', { xmlns: OSAP }, 'siren on'),
      camJid,
    );
    expect(direct.getChildText('result', OSAP)).toBe('siren is on');
    // paul is related without the command right: the same refusal as an XMPP device's (§9).
    const forbidden = await iq(clients.get('paul'), 'set', xml('operate', { xmlns: OSAP }, 'siren off'));
    expect(errorOf(forbidden)).toEqual({ type: 'error', errorType: 'auth', condition: 'forbidden' });
    const blocked = await iq(clients.get('rita'), 'set', xml('operate', { xmlns: OSAP }, 'siren off'));
    expect(errorOf(blocked)).toEqual({
      type: 'error',
      errorType: 'cancel',
      condition: 'service-unavailable',
    });
    expect(operations.slice(before).map((o) => o.data)).toEqual(['siren on', 'siren on']);
  });

  it('answers recipient-unavailable when the device does not answer in time', async () => {
    const started = Date.now();
    const answer = await iq(clients.get('olivia'), 'set', xml('operate', { xmlns: OSAP }, 'ignored'));
    expect(errorOf(answer)).toEqual({ type: 'error', errorType: 'wait', condition: 'recipient-unavailable' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
    expect(operations.at(-1)?.data).toBe('ignored');
  });

  it('answers other iqs to its session service-unavailable: it speaks no XMPP', async () => {
    const before = operations.length;
    const answer = await iq(clients.get('olivia'), 'get', xml('ping', { xmlns: 'urn:xmpp:ping' }), camJid);
    expect(errorOf(answer)).toEqual({ type: 'error', errorType: 'cancel', condition: 'service-unavailable' });
    expect(operations.length).toBe(before);
  });

  it('disconnects a device that sends a packet above maxPacketBytes', async () => {
    const closed = cam.closed();
    // No PUBACK comes for it: the connection closes first.
    void cam.event('x'.repeat(5_000)).catch(() => undefined);
    await closed;
    expect(cam.connected).toBe(false);
    expect(fixture.log.lines.some((l) => l.includes('packet above maxPacketBytes'))).toBe(true);
    await clients.received(
      clients.get('olivia'),
      (s) =>
        s.is('presence') &&
        s.attrs.type === 'unavailable' &&
        s.attrs.from?.startsWith(`${CAM}/osap-`) === true,
    );
  });
});

describe('Message 13 to an offline OSAP device', () => {
  it('is stored and reaches the device at its next connection; its result goes back as Message 9', async () => {
    answers.set('record 10 s', 'recorded');
    const pushed = await fixture.http.post(
      `${fixture.base}/push`,
      form({
        version: '1',
        appid: app.credentials.appid,
        token: app.credentials.token,
        deviceid: '#cam',
        data: 'record 10 s',
      }),
    );
    expect(pushed.status).toBe(200);
    expect(await offlineRows('#cam')).toBe(1);
    const before = operations.length;
    await cam.connect();
    await expect
      .poll(() => operations.slice(before).map((o) => [o.from, o.data]))
      .toEqual([[app.jid, 'record 10 s']]);
    await expect.poll(() => offlineRows('#cam')).toBe(0);
    const uploads = async () =>
      (
        await fixture.db.query<{ params: Record<string, string> }>(
          `SELECT params FROM outbox WHERE ordering_key = 'recorder:#cam' AND operation = 'deviceUpload' ORDER BY id`,
        )
      ).rows.map((r) => r.params.data);
    await expect.poll(uploads).toContain('recorded');
    await cam.disconnect();
  });
});

describe('a malformed attribute report', () => {
  it('closes the connection and keeps nothing of it', async () => {
    await cam.connect();
    const closed = cam.closed();
    void cam.attributes({ 'not a name': 1, battery: 5 }).catch(() => undefined);
    await closed;
    expect(fixture.log.lines.some((l) => l.includes('an attribute report'))).toBe(true);
    const kept = await fixture.db.query<{ name: string; value: string }>(
      `SELECT name, value FROM osap_attributes WHERE local_part = '#cam' ORDER BY name`,
    );
    expect(kept.rows).toEqual([
      { name: 'armed', value: 'true' },
      { name: 'battery', value: '86' },
      { name: 'mode', value: 'away' },
    ]);
  });
});
