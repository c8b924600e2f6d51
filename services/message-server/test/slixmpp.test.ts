/**
 * XEP-0198 with a third-party client: slixmpp (Debian's python3-slixmpp, its xep_0198 plugin) logs in over
 * STARTTLS through a TCP proxy of the test and enables stream management; the proxy cuts the connection and refuses
 * new ones for a while, messages are sent to the session meanwhile, then slixmpp reconnects and resumes. Every
 * message sent while it was away arrives once.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client } from '@xmpp/client';
import { ensureDebianPackage } from '../../../test/support/debian.js';
import { tempDir } from '../../../test/support/irsp.js';
import { xmppLogin } from '../../../test/support/xmpp.js';
import { DOMAIN, startXmppMessageServer, type XmppFixture } from './fixture.js';

const SCRIPT = fileURLToPath(new URL('../../../test/support/slixmpp_sm_client.py', import.meta.url));
/** Debian's interpreter, where python3-slixmpp is installed (not whatever python3 comes first on PATH). */
const PYTHON = '/usr/bin/python3';

/** A TCP proxy to the c2s port whose connections the test can cut, and which can refuse new ones for a while. */
class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  private server: Server | undefined;

  async start(target: number): Promise<number> {
    this.server = createServer((client) => {
      if (this.refusing) return client.destroy();
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
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server!.address() as AddressInfo).port;
  }

  /** Both ends of every connection go at once, without a close tag: a dropped network. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  refuse(refusing: boolean): void {
    this.refusing = refusing;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

interface Reported {
  event: string;
  id?: string;
  body?: string;
}

/** The slixmpp client as a child process; what it reports, kept in order. */
class Slixmpp {
  readonly reports: Reported[] = [];
  readonly stderr: string[] = [];
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(args: string[]) {
    this.child = spawn(PYTHON, [SCRIPT, ...args], { env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } });
    createInterface({ input: this.child.stdout }).on('line', (line) =>
      this.reports.push(JSON.parse(line) as Reported),
    );
    createInterface({ input: this.child.stderr }).on('line', (line) => this.stderr.push(line));
  }

  async reported(match: (r: Reported) => boolean, timeoutMs = 20_000): Promise<void> {
    await expect
      .poll(() => this.reports.some(match), {
        timeout: timeoutMs,
        message: `slixmpp reported ${JSON.stringify(this.reports)}; stderr ${this.stderr.join('\n')}`,
      })
      .toBe(true);
  }

  messages(): string[] {
    return this.reports.filter((r) => r.event === 'message').map((r) => r.id!);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

let fixture: XmppFixture;
let dir: Awaited<ReturnType<typeof tempDir>>;
const proxy = new CuttableProxy();
let slixmpp: Slixmpp | undefined;
let phone: Client | undefined;

beforeAll(async () => {
  ensureDebianPackage(
    'python3-slixmpp',
    () => spawnSync(PYTHON, ['-c', 'import slixmpp'], { encoding: 'utf8' }).status === 0,
  );
  fixture = await startXmppMessageServer({
    c2sLimits: { resumptionTimeoutMs: 60_000, ackRequestStanzas: 1 },
  });
  await fixture.register('alice', 'alice pw');
  dir = await tempDir();
}, 300_000); // apt-get, when slixmpp is missing

afterAll(async () => {
  await slixmpp?.stop();
  await phone?.stop().catch(() => undefined);
  await proxy.close();
  await fixture?.close();
  await dir?.remove();
});

describe('slixmpp (XEP-0198 plugin) as the client', () => {
  it('resumes after its TCP connection is cut; what was sent meanwhile arrives once', async () => {
    const caFile = join(dir.path, 'ca.pem');
    await writeFile(caFile, fixture.ca);
    const port = await proxy.start(fixture.c2sPort);
    const target = `alice@${DOMAIN}/slix`;
    slixmpp = new Slixmpp([target, 'alice pw', '127.0.0.1', String(port), caFile]);
    await slixmpp.reported((r) => r.event === 'started');
    await slixmpp.reported((r) => r.event === 'enabled');
    phone = await xmppLogin({
      port: fixture.c2sPort,
      domain: DOMAIN,
      username: 'alice',
      password: 'alice pw',
      resource: 'phone',
    });
    const send = (client: Client, id: string) =>
      client.send(xml('message', { to: target, id, type: 'chat' }, xml('body', {}, `body ${id}`)));
    const before = ['b1', 'b2', 'b3', 'b4', 'b5'];
    for (const id of before) await send(phone, id);
    await slixmpp.reported((r) => r.event === 'message' && r.id === 'b5');
    // slixmpp acknowledges each (the server asks after every stanza).
    await new Promise((r) => setTimeout(r, 500));

    proxy.refuse(true);
    proxy.cut();
    await slixmpp.reported((r) => r.event === 'disconnected');
    const meanwhile = ['w1', 'w2', 'w3', 'w4', 'w5'];
    for (const id of meanwhile) await send(phone, id);
    // The session waits, still bound: the messages are queued for it, not stored or bounced.
    await new Promise((r) => setTimeout(r, 300));
    expect(fixture.server.context.router.sessions.resource('alice', 'slix')).toBeDefined();
    expect((await fixture.db.query('SELECT id FROM offline_messages')).rows).toEqual([]);
    proxy.refuse(false);

    await slixmpp.reported((r) => r.event === 'resumed', 30_000);
    await slixmpp.reported((r) => r.event === 'message' && r.id === 'w5');
    await new Promise((r) => setTimeout(r, 500));
    const received = slixmpp.messages();
    for (const id of meanwhile) expect(received.filter((m) => m === id)).toEqual([id]);
    // Acknowledged before the cut: never sent again.
    for (const id of before) expect(received.filter((m) => m === id)).toEqual([id]);
    expect(received.slice(-5)).toEqual(meanwhile);
    expect(slixmpp.reports.filter((r) => r.event === 'failed')).toEqual([]);
    expect(slixmpp.reports.filter((r) => r.event === 'message').map((r) => r.body)).toEqual(
      [...before, ...meanwhile].map((id) => `body ${id}`),
    );
  });
});
