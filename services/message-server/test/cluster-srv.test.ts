/**
 * How clients reach "a" message server of an AS with several (docs/scaling.md): DNS SRV records naming every server
 * of the cluster (RFC 6120 §3.2.1 `_xmpp-client._tcp`, XEP-0368 `_xmpps-client._tcp` for direct TLS), looked up by a
 * real client (@xmpp/client resolves them itself when given only the domain) in a zone served by a DNS server on
 * loopback. The client lands on the preferred server, a user there reaches a user on the other one, and when the
 * preferred server goes away the client's reconnection finds the other by the same records.
 */
import { randomBytes } from 'node:crypto';
import dns from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, xml, type Client } from '@xmpp/client';
import type { ClusterConfig } from '@irsp/config';
import { openTestDb, type Db } from '@irsp/store';
import { tempDir } from '../../../test/support/irsp.js';
import { startLoopbackDns, withHosts, type LoopbackDns } from '../../../test/support/dns.js';
import { trustCaForXmppClients, XmppInbox, xmppLogin } from '../../../test/support/xmpp.js';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';

const NATS = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const domain = `s${randomBytes(5).toString('hex')}.irsp.test`;
const cluster: ClusterConfig = { nats: [NATS], secret: randomBytes(24).toString('base64') };

let db: Db;
let tls: Awaited<ReturnType<typeof tempDir>>;
let zone: LoopbackDns;
let a: XmppFixture;
let b: XmppFixture;
let restoreHosts: () => void;
let aClosed = false;
const servers = dns.getServers();
const clients: Client[] = [];

const start = (id: string) =>
  startXmppMessageServer({ domain, db, id, tlsDir: tls.path, cluster, directTls: true });

/** Which server holds a session of `local` with `resource`: the one whose own session table has it. */
function holder(local: string, resource: string): string | undefined {
  for (const [name, fixture] of [
    ['ms-a', { server: a.server, closed: aClosed }],
    ['ms-b', { server: b.server, closed: false }],
  ] as const) {
    if (!fixture.closed && fixture.server.context.router.sessions.resource(local, resource)) return name;
  }
  return undefined;
}

beforeAll(async () => {
  db = await openTestDb('mssrv');
  tls = await tempDir();
  a = await start('ms-a');
  b = await start('ms-b');
  await a.register('alice', 'alice pw');
  await a.register('bob', 'bob pw');
  for (const [owner, contact] of [
    ['alice', 'bob'],
    ['bob', 'alice'],
  ] as const)
    await db.query(`INSERT INTO roster (owner, contact, subscription, ask) VALUES ($1, $2, 'both', false)`, [
      owner,
      `${contact}@${domain}`,
    ]);
  // The AS's zone: ms-a preferred (lower priority value), ms-b the fallback; direct TLS (XEP-0368) before STARTTLS.
  zone = await startLoopbackDns();
  zone.setSrv(`_xmpps-client._tcp.${domain}`, [
    { priority: 5, weight: 1, port: a.directTlsPort!, target: `ms-a.${domain}` },
    { priority: 15, weight: 1, port: b.directTlsPort!, target: `ms-b.${domain}` },
  ]);
  zone.setSrv(`_xmpp-client._tcp.${domain}`, [
    { priority: 10, weight: 1, port: a.c2sPort, target: `ms-a.${domain}` },
    { priority: 20, weight: 1, port: b.c2sPort, target: `ms-b.${domain}` },
  ]);
  dns.setServers([zone.address]);
  // The A records of the zone: the servers' names and the domain itself (which the client looks up as well).
  restoreHosts = withHosts({
    [domain]: '127.0.0.1',
    [`ms-a.${domain}`]: '127.0.0.1',
    [`ms-b.${domain}`]: '127.0.0.1',
  });
});

afterAll(async () => {
  for (const c of clients) await c.stop().catch(() => undefined);
  await b?.close();
  if (!aClosed) await a?.close();
  restoreHosts?.();
  dns.setServers(servers);
  await zone?.close();
  await db?.close();
  await tls?.remove();
});

describe('clients find a message server of a cluster by DNS SRV', () => {
  it('land on the preferred server, reach the other server, and move to it when the first goes away', async () => {
    // alice gives only her domain, as a user of an everyday client does; reconnection stays on (its default).
    const alice = client({
      domain,
      service: domain,
      resource: 'phone',
      username: 'alice',
      password: 'alice pw',
      timeout: 10_000,
    });
    alice.on('error', () => undefined);
    clients.push(alice);
    const aliceInbox = new XmppInbox(alice);
    await alice.start();
    expect(zone.asked).toEqual(
      expect.arrayContaining([`_xmpps-client._tcp.${domain}`, `_xmpp-client._tcp.${domain}`]),
    );
    expect(holder('alice', 'phone')).toBe('ms-a');

    const bob = await xmppLogin({
      port: b.c2sPort,
      domain,
      username: 'bob',
      password: 'bob pw',
      resource: 'pc',
    });
    clients.push(bob);
    const bobInbox = new XmppInbox(bob);
    await bob.send(xml('presence'));
    await alice.send(xml('presence'));
    await alice.send(
      xml('message', { to: `bob@${domain}`, type: 'chat', id: 'm1' }, xml('body', {}, 'via ms-a')),
    );
    const first = await bobInbox.next((s) => s.is('message') && s.getChildText('body') === 'via ms-a');
    expect(first.attrs.from).toBe(`alice@${domain}/phone`);

    // ms-a goes away (its fixture's close also drops the test CA it trusted: trust it again for the reconnection).
    const online = new Promise<void>((resolve) => alice.once('online', () => resolve()));
    await a.close();
    aClosed = true;
    const untrust = trustCaForXmppClients(b.ca);
    try {
      await online;
      expect(holder('alice', 'phone')).toBe('ms-b');
      await alice.send(xml('presence'));
      await alice.send(
        xml('message', { to: `bob@${domain}`, type: 'chat', id: 'm2' }, xml('body', {}, 'via ms-b')),
      );
      expect(
        (await bobInbox.next((s) => s.is('message') && s.getChildText('body') === 'via ms-b')).attrs.from,
      ).toBe(`alice@${domain}/phone`);
      await bob.send(
        xml('message', { to: `alice@${domain}/phone`, type: 'chat', id: 'm3' }, xml('body', {}, 'back')),
      );
      const back = await aliceInbox.next((s) => s.is('message') && s.getChildText('body') === 'back');
      expect(back.attrs.from).toBe(`bob@${domain}/pc`);
    } finally {
      untrust();
    }
  });
});
