/**
 * Chaos: the message server killed with SIGKILL while it stores offline messages (docs/consistency.md, "Chaos
 * tests"). A user sends its device, offline, pairs of a message and a ping; a ping is answered only after what came
 * before it (docs/client-protocol.md: a message to an offline recipient is "stored … before anything else"), so every
 * message whose following ping was answered must reach the device when it logs in after the restart: each once, in
 * the order sent. Counted by id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import { ChaosIrsp } from './support/processes.js';
import { trustCaForXmppClients, XmppInbox, xmppLogin } from './support/xmpp.js';

let irsp: ChaosIrsp | undefined;
let untrust: (() => void) | undefined;
const clients: Client[] = [];

afterEach(async () => {
  for (const client of clients.splice(0))
    await Promise.race([client.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
  untrust?.();
  await irsp?.close();
  irsp = undefined;
});

async function login(chaos: ChaosIrsp, name: string): Promise<Client> {
  const client = await xmppLogin({
    port: chaos.as.messageServers[0]!.xmpp!.c2sPort,
    domain: chaos.as.domain,
    username: name,
    password: `${name} pw`,
    resource: 'r',
  });
  clients.push(client);
  return client;
}

/** Pairs sent at most: under the offline store's limit per recipient (1 000), so that none is refused. */
const MAX_PAIRS = 900;
/** Pings answered before the kill. */
const ANSWERED_BEFORE_KILL = 60;
/** Pairs written at once: well ahead of the kill, so that the server still has pairs to answer when it dies even
 * on a loaded machine, where it could otherwise answer a short backlog whole before the signal lands. */
const BURST = 200;

describe('chaos: a message server killed with SIGKILL while it stores offline messages', () => {
  it('delivers, after the restart, every message whose following ping was answered: each once, in order', async () => {
    irsp = await ChaosIrsp.create();
    untrust = trustCaForXmppClients(irsp.ca);
    const ms = await irsp.start('message-server');
    await irsp.registerAtMessageServer('alice');
    await irsp.registerAtMessageServer('#cam', { verifycode: 'vc-cam-1234' });
    const alice = await login(irsp, 'alice');
    const aliceInbox = new XmppInbox(alice);
    await alice.send(
      xml(
        'presence',
        { to: '#cam@as1.irsp.test', type: 'subscribe' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, 'vc-cam-1234'),
      ),
    );
    expect(await aliceInbox.rosterPush('#cam@as1.irsp.test')).toEqual({
      jid: '#cam@as1.irsp.test',
      subscription: 'both',
    });

    // Killed from the handler that reads the answer, at once: no pause in which pending writes could commit.
    const answered = new Set<number>();
    const refused: string[] = [];
    let killed: Promise<void> | undefined;
    alice.on('stanza', (s: XmlElement) => {
      const id = /^p-(\d+)$/.exec(s.attrs.id ?? '');
      if (s.is('iq') && s.attrs.type === 'result' && id) answered.add(Number(id[1]));
      if (s.attrs.type === 'error') refused.push(s.toString());
      if (!killed && answered.size >= ANSWERED_BEFORE_KILL) killed = ms.kill();
    });
    // Written in bursts, as a client with a backlog writes: the server reads many pairs at once.
    let sent = 0;
    try {
      while (sent < MAX_PAIRS && !killed) {
        let burst = '';
        for (const end = Math.min(sent + BURST, MAX_PAIRS); sent < end; sent++) {
          burst +=
            `<message to='#cam@as1.irsp.test' type='chat' id='m-${sent}'><body>${sent}</body></message>` +
            `<iq type='get' id='p-${sent}'><ping xmlns='urn:xmpp:ping'/></iq>`;
        }
        await alice.write(burst);
        await new Promise((r) => setTimeout(r, 20));
      }
    } catch {
      // The connection died with the server.
    }
    await expect.poll(() => killed !== undefined, { timeout: 60_000 }).toBe(true);
    await killed;
    const acknowledged = [...answered].sort((a, b) => a - b);
    expect(refused).toEqual([]);
    // The kill came while pairs were still being answered.
    expect(acknowledged.length).toBeLessThan(sent);

    await irsp.start('message-server');
    const cam = await login(irsp, '#cam');
    const bodies: number[] = [];
    cam.on('stanza', (s: XmlElement) => {
      if (s.is('message') && s.attrs.from?.startsWith('alice@as1.irsp.test'))
        bodies.push(Number(s.getChildText('body')));
    });
    // xmpp.js is online at bind, before its <enable/> is answered; it answers an <r/> that comes in the same read as
    // <enabled/> with a count that includes stanzas from before, and then resets it to zero, so a backlog that starts
    // in that moment meets an h that goes backwards (docs/client-protocol.md). Initial presence once enabled.
    await expect
      .poll(() => (cam as unknown as { streamManagement: { enabled: boolean } }).streamManagement.enabled)
      .toBe(true);
    await cam.send(xml('presence'));
    const last = acknowledged[acknowledged.length - 1]!;
    // Messages after the last answered ping may or may not have been stored: only the acknowledged ones count.
    await expect
      .poll(() => bodies.filter((b) => b <= last), { timeout: 30_000 })
      .toEqual(Array.from({ length: last + 1 }, (_, i) => i));
    // Nothing twice, nothing out of order, nothing that was never sent.
    expect(bodies).toEqual(Array.from({ length: bodies.length }, (_, i) => i));
    expect(bodies.length).toBeLessThanOrEqual(sent + 1);
  }, 150_000);
});
