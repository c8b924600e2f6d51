/**
 * XEP-0198 on s2s between the message servers of two ASs: AS1's outgoing stream to AS2 runs through a TCP proxy of
 * the test, which swallows what AS1 writes for a while and then cuts the connection — the stanzas written meanwhile
 * were never acknowledged, so AS1 sends them again on its next stream and every message arrives, each once.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '@xmpp/client';
import { freePorts, tempDir } from '../../../test/support/irsp.js';
import { XmppClients } from './clients.js';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';

const AS1 = 'as1.irsp.test';
const AS2 = 'as2.irsp.test';

/** A TCP proxy that can swallow what its clients send (and forward nothing of it) and cut every connection. */
class LossyProxy {
  private readonly sockets = new Set<Socket>();
  private swallowing = false;
  private server: Server | undefined;

  async start(target: number): Promise<number> {
    this.server = createServer((client) => {
      const upstream = connect(target, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk: Buffer) => {
        if (!this.swallowing) upstream.write(chunk);
      });
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server!.address() as AddressInfo).port;
  }

  swallow(on: boolean): void {
    this.swallowing = on;
  }

  /** Every connection goes at once, without a close tag, and what was swallowed is gone. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  get connections(): number {
    return this.sockets.size / 2;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

let dir: Awaited<ReturnType<typeof tempDir>>;
let as1: XmppFixture;
let as2: XmppFixture;
const proxy = new LossyProxy();
const in1 = new XmppClients(() => as1);
const in2 = new XmppClients(() => as2);

beforeAll(async () => {
  dir = await tempDir();
  const [s2s1, s2s2] = await freePorts(2);
  const toAs2 = await proxy.start(s2s2!);
  // Acks asked for after every stanza, so that what was delivered before the loss is acknowledged by then.
  const limits = { bounceTimeoutMs: 20_000, connectTimeoutMs: 2_000, ackRequestStanzas: 1 };
  as1 = await startXmppMessageServer({
    domain: AS1,
    tlsDir: dir.path,
    s2sPort: s2s1,
    federation: { routes: { [AS2]: [{ host: '127.0.0.1', port: toAs2 }] }, limits },
  });
  as2 = await startXmppMessageServer({
    domain: AS2,
    tlsDir: dir.path,
    s2sPort: s2s2,
    federation: { routes: { [AS1]: [{ host: '127.0.0.1', port: s2s1! }] }, limits },
  });
  await as1.register('alice', 'alice pw');
  await as2.register('bob', 'bob pw');
  await as1.server.context.router.roster.establish(`alice@${AS1}`, `bob@${AS2}`);
  await as2.server.context.router.roster.establish(`bob@${AS2}`, `alice@${AS1}`);
});

afterAll(async () => {
  await in1.stopAll();
  await in2.stopAll();
  await as2?.close();
  await as1?.close();
  await proxy.close();
  await dir?.remove();
});

describe('an outgoing s2s stream lost mid-traffic', () => {
  it('sends the stanzas the peer never acknowledged again on the next stream: none lost, none twice', async () => {
    const alice = await in1.login('alice');
    const bob = await in2.login('bob');
    const bodies = () =>
      in2
        .inbox(bob)
        .filter((s) => s.is('message'))
        .map((s) => s.getChildText('body'));
    const send = (id: string) =>
      alice.send(xml('message', { to: `bob@${AS2}/r`, id, type: 'chat' }, xml('body', {}, id)));
    const before = ['b1', 'b2', 'b3'];
    for (const id of before) await send(id);
    await expect.poll(bodies, { timeout: 20_000 }).toEqual(before);
    expect(proxy.connections).toBe(1);
    // Acknowledged by now (an ack is asked for after each stanza).
    await new Promise((r) => setTimeout(r, 500));

    proxy.swallow(true);
    const lost = ['w1', 'w2', 'w3', 'w4'];
    for (const id of lost) await send(id);
    await new Promise((r) => setTimeout(r, 500));
    expect(bodies()).toEqual(before);
    proxy.swallow(false);
    proxy.cut();

    await expect.poll(bodies, { timeout: 20_000 }).toEqual([...before, ...lost]);
    // Nothing came back to the sender as undeliverable.
    await new Promise((r) => setTimeout(r, 300));
    expect(in1.inbox(alice).filter((s) => s.attrs.type === 'error')).toEqual([]);
    expect(bodies()).toEqual([...before, ...lost]);
  });
});
