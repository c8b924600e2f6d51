/**
 * Messages 12 and 13 (clause 8.3.3): an application server of the AS pushes to a user or a device, GET and POST,
 * answered by Table 6 byte-exactly; delivered to every online resource or stored offline; an application server
 * of another AS is refused (clause 8.7).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import { form, type HttpAnswer, type TestClient } from '../../../test/support/irsp.js';
import { xmppLogin } from '../../../test/support/xmpp.js';
import { DOMAIN, accountServerAuth, startXmppMessageServer, type XmppFixture } from './fixture.js';

const smartlock = { appid: 'smartlock-as1', token: 'smartlock-as1-token-0123456789' };
const foreign = { appid: 'smartlock-as2', token: 'smartlock-as2-token-0123456789' };
const BODY = {
  400: '<error><code>400</code><detail>bad request</detail></error>',
  401: '<error><code>401</code><detail>unauthorized</detail></error>',
  422: '<error><code>422</code><detail>id not existed</detail></error>',
} as const;

let fixture: XmppFixture;
let http: TestClient;
let base: string;
const clients: Client[] = [];

function expectStatus(answer: HttpAnswer, status: 200 | keyof typeof BODY) {
  expect({ status: answer.status, body: answer.body }).toEqual({
    status,
    body: status === 200 ? '' : BODY[status],
  });
}

async function login(username: string, resource: string) {
  const client = await xmppLogin({
    port: fixture.c2sPort,
    domain: DOMAIN,
    username,
    password: 'pw',
    resource,
  });
  clients.push(client);
  return client;
}

function nextMessage(client: Client): Promise<XmlElement> {
  return new Promise((resolve) => {
    const listener = (s: XmlElement) => {
      if (!s.is('message')) return;
      client.off('stanza', listener);
      resolve(s);
    };
    client.on('stanza', listener);
  });
}

beforeAll(async () => {
  fixture = await startXmppMessageServer({
    applicationServers: [
      {
        name: 'smartlock',
        url: 'https://127.0.0.1:1',
        listen: { host: '127.0.0.1', port: 0 },
        jid: 'smartlock.as1.irsp.test',
        credentials: smartlock,
        deviceStatus: true,
        serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/x' },
      },
    ],
  });
  ({ http, base } = fixture);
  await fixture.register('alice', 'pw');
  await fixture.register('#lock1', 'pw');
});

afterAll(async () => {
  for (const client of clients) await client.stop().catch(() => undefined);
  await fixture?.close();
});

describe.each([
  ['POST', (fields: Record<string, string>) => http.post(`${base}/push`, form(fields))],
  ['GET', (fields: Record<string, string>) => http.get(`${base}/push?${form(fields)}`)],
])('Messages 12–13 as %s', (method, send) => {
  it("Message 12 reaches every online resource of the user, from the application server's address", async () => {
    const phone = await login('alice', `phone-${method}`);
    const tablet = await login('alice', `tablet-${method}`);
    const arrivals = [nextMessage(phone), nextMessage(tablet)];
    expectStatus(await send({ userid: 'alice', data: `door open & <ok> ${method}`, ...smartlock }), 200);
    for (const message of await Promise.all(arrivals)) {
      expect(message.attrs.from).toBe('smartlock.as1.irsp.test');
      expect(message.getChildText('body')).toBe(`door open & <ok> ${method}`);
    }
  });

  it('Message 13 reaches the device', async () => {
    const lock = await login('#lock1', `main-${method}`);
    const arrival = nextMessage(lock);
    expectStatus(await send({ deviceid: '#lock1', data: 'unlock', ...smartlock }), 200);
    expect((await arrival).getChildText('body')).toBe('unlock');
  });

  it('Table 6: 422 for an ID that does not exist, 400 for missing data or a device ID without #', async () => {
    expectStatus(await send({ userid: 'nobody', data: 'x', ...smartlock }), 422);
    expectStatus(await send({ deviceid: '#nolock', data: 'x', ...smartlock }), 422);
    expectStatus(await send({ userid: 'alice', ...smartlock }), 400);
    expectStatus(await send({ userid: 'alice', data: '', ...smartlock }), 400);
    expectStatus(await send({ deviceid: 'lock1', data: 'x', ...smartlock }), 400);
    expectStatus(await send({ userid: 'alice', deviceid: '#lock1', data: 'x', ...smartlock }), 400);
  });

  it('an application server of another AS, or a wrong token, gets 401 (clause 8.7)', async () => {
    expectStatus(await send({ userid: 'alice', data: 'x', ...foreign }), 401);
    expectStatus(
      await send({ userid: 'alice', data: 'x', appid: smartlock.appid, token: 'wrong-token-wrong-token' }),
      401,
    );
    expectStatus(await send({ userid: 'alice', data: 'x' }), 401);
  });
});

describe('offline', () => {
  it('a push to an offline device is stored and delivered with a delay stamp at its next login', async () => {
    for (const client of clients.splice(0)) await client.stop();
    await expect.poll(() => fixture.server.context.router.sessions.resources('#lock1').length).toBe(0);
    expectStatus(
      await http.post(`${base}/push`, form({ deviceid: '#lock1', data: 'while away', ...smartlock })),
      200,
    );
    const lock = await login('#lock1', 'back');
    const arrival = nextMessage(lock);
    await lock.send(xml('presence'));
    const message = await arrival;
    expect(message.getChildText('body')).toBe('while away');
    expect(message.getChild('delay', 'urn:xmpp:delay')?.attrs.from).toBe(DOMAIN);
  });

  it('a push to an account removed by Message 5 gets 422, though pushes to it were answered before', async () => {
    await fixture.register('carol', 'pw');
    const push = () => http.post(`${base}/push`, form({ userid: 'carol', data: 'stored', ...smartlock }));
    expectStatus(await push(), 200);
    expectStatus(await push(), 200);
    expectStatus(await http.post(`${base}/user/remove`, form({ ...accountServerAuth, name: 'carol' })), 200);
    expectStatus(await push(), 422);
    await fixture.register('carol', 'pw');
    expectStatus(await push(), 200);
  });

  it('no token reaches the log', () => {
    expect(fixture.log.lines.join('\n')).not.toContain(smartlock.token);
  });
});

describe('discovery (14543-5-8 §13, XEP-0030)', () => {
  it("the AS's application servers are the server's disco#items; its features include ours", async () => {
    const alice = await login('alice', 'disco');
    const items = await alice.iqCaller.request(
      xml(
        'iq',
        { type: 'get', to: DOMAIN },
        xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' }),
      ),
    );
    expect(items.getChild('query')?.toString()).toBe(
      '<query xmlns="http://jabber.org/protocol/disco#items">' +
        '<item jid="smartlock.as1.irsp.test" name="smartlock"/></query>',
    );
    const info = await alice.iqCaller.request(
      xml(
        'iq',
        { type: 'get', to: DOMAIN },
        xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }),
      ),
    );
    const features = info
      .getChild('query')!
      .getChildren('feature')
      .map((f) => f.attrs.var);
    expect(features).toEqual([
      'http://jabber.org/protocol/disco#info',
      'http://jabber.org/protocol/disco#items',
      'urn:xmpp:ping',
      'jabber:iq:roster',
      'urn:irsp:verifycode:0',
      'urn:irsp:access:0',
      'urn:xmpp:carbons:2',
      'jabber:iq:private',
      'urn:xmpp:blocking',
    ]);
  });

  it('an application server the server lists answers disco#info and disco#items; other iqs are refused', async () => {
    const alice = await login('alice', 'disco-app');
    const ask = (xmlns: string) =>
      alice.iqCaller.request(
        xml('iq', { type: 'get', to: 'smartlock.as1.irsp.test' }, xml('query', { xmlns })),
      );
    const info = await ask('http://jabber.org/protocol/disco#info');
    expect(info.attrs.from).toBe('smartlock.as1.irsp.test');
    expect(info.getChild('query')?.toString()).toBe(
      '<query xmlns="http://jabber.org/protocol/disco#info">' +
        '<identity category="component" type="generic" name="smartlock"/>' +
        '<feature var="http://jabber.org/protocol/disco#info"/>' +
        '<feature var="http://jabber.org/protocol/disco#items"/></query>',
    );
    const items = await ask('http://jabber.org/protocol/disco#items');
    expect(items.getChild('query')?.toString()).toBe(
      '<query xmlns="http://jabber.org/protocol/disco#items"/>',
    );
    await expect(
      alice.iqCaller.request(
        xml('iq', { type: 'get', to: 'smartlock.as1.irsp.test' }, xml('ping', { xmlns: 'urn:xmpp:ping' })),
      ),
    ).rejects.toMatchObject({ condition: 'service-unavailable' });
  });
});
