/**
 * The client extensions of decision 0025 with a third-party client: slixmpp (Debian's python3-slixmpp) with its
 * xep_0280, xep_0191, xep_0049 and xep_0048 plugins logs in as a client does, enables carbons, reads its blocklist,
 * stores and reads back a bookmark without an error, then gets carbons of what its account's other resource sends
 * and receives, blocks and unblocks a contact with the pushes, and sees the block enforced both ways.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client } from '@xmpp/client';
import { ensureDebianPackage } from '../../../test/support/debian.js';
import { tempDir } from '../../../test/support/irsp.js';
import { XmppClients } from './clients.js';
import { DOMAIN, startXmppMessageServer, type XmppFixture } from './fixture.js';

const SCRIPT = fileURLToPath(new URL('../../../test/support/slixmpp_ext_client.py', import.meta.url));
const PYTHON = '/usr/bin/python3';
const alice = `alice@${DOMAIN}`;
const bob = `bob@${DOMAIN}`;

type Reported = Record<string, unknown> & { event: string };

/** The slixmpp client as a child process: commands on stdin, what it reports kept in order. */
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

  command(order: Record<string, string>): void {
    this.child.stdin.write(`${JSON.stringify(order)}\n`);
  }

  /** The first report of `event` (taken out), waited for. */
  async reported(event: string, timeoutMs = 20_000): Promise<Reported> {
    await expect
      .poll(() => this.reports.some((r) => r.event === event), {
        timeout: timeoutMs,
        message: `slixmpp reported ${JSON.stringify(this.reports)}; stderr ${this.stderr.join('\n')}`,
      })
      .toBe(true);
    const index = this.reports.findIndex((r) => r.event === event);
    return this.reports.splice(index, 1)[0]!;
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
const clients = new XmppClients(() => fixture);
let slixmpp: Slixmpp | undefined;
let phone: Client;
let bobR: Client;

beforeAll(async () => {
  ensureDebianPackage(
    'python3-slixmpp',
    () => spawnSync(PYTHON, ['-c', 'import slixmpp'], { encoding: 'utf8' }).status === 0,
  );
  fixture = await startXmppMessageServer();
  for (const name of ['alice', 'bob']) await fixture.register(name, `${name} pw`);
  for (const [owner, contact] of [
    ['alice', bob],
    ['bob', alice],
  ])
    await fixture.db.query(`INSERT INTO roster (owner, contact, subscription) VALUES ($1, $2, 'both')`, [
      owner,
      contact,
    ]);
  dir = await tempDir();
}, 300_000); // apt-get, when slixmpp is missing

afterAll(async () => {
  await slixmpp?.stop();
  await clients.stopAll();
  await fixture?.close();
  await dir?.remove();
});

describe('slixmpp (xep_0280, xep_0191, xep_0049/0048 plugins) as the client', () => {
  it('logs in with carbons, blocklist and bookmarks, gets copies, blocks and unblocks', async () => {
    const caFile = join(dir.path, 'ca.pem');
    await writeFile(caFile, fixture.ca);
    slixmpp = new Slixmpp([`${alice}/slix`, 'alice pw', '127.0.0.1', String(fixture.c2sPort), caFile]);
    expect(await slixmpp.reported('started')).toEqual({
      event: 'started',
      blocklist: [],
      bookmarks: [{ jid: 'council@conference.example', nick: 'al', name: 'Council', autojoin: true }],
    });
    phone = await clients.login('alice', 'phone');
    bobR = await clients.login('bob', 'r');

    await phone.send(
      xml('message', { to: `${bob}/r`, id: 's1', type: 'chat' }, xml('body', {}, 'from phone')),
    );
    expect(await slixmpp.reported('carbon_sent')).toEqual({
      event: 'carbon_sent',
      id: 's1',
      from: `${alice}/phone`,
      to: `${bob}/r`,
      body: 'from phone',
    });
    await bobR.send(
      xml('message', { to: `${alice}/phone`, id: 'r1', type: 'chat' }, xml('body', {}, 'to phone')),
    );
    expect(await slixmpp.reported('carbon_received')).toEqual({
      event: 'carbon_received',
      id: 'r1',
      from: `${bob}/r`,
      to: `${alice}/phone`,
      body: 'to phone',
    });

    slixmpp.command({ cmd: 'block', jid: bob });
    await slixmpp.reported('block_result');
    expect(await slixmpp.reported('pushed_block')).toEqual({ event: 'pushed_block', items: [bob] });
    await bobR.send(
      xml('message', { to: `${alice}/slix`, id: 'x1', type: 'chat' }, xml('body', {}, 'hello?')),
    );
    const refused = await clients.received(bobR, (s) => s.attrs.id === 'x1');
    expect(refused.getChild('error')!.getChild('service-unavailable')).toBeDefined();
    slixmpp.command({ cmd: 'send', to: bob, id: 'x2', body: 'blocked!' });
    const error = await slixmpp.reported('error');
    expect(error.id).toBe('x2');
    expect(error.condition).toBe('not-acceptable');
    expect(error.xml).toContain('<blocked xmlns="urn:xmpp:blocking:errors" />');

    slixmpp.command({ cmd: 'unblock', jid: bob });
    await slixmpp.reported('unblock_result');
    expect(await slixmpp.reported('pushed_unblock')).toEqual({ event: 'pushed_unblock', items: [bob] });
    await bobR.send(
      xml('message', { to: `${alice}/slix`, id: 'x3', type: 'chat' }, xml('body', {}, 'hello!')),
    );
    expect(await slixmpp.reported('message')).toEqual({ event: 'message', id: 'x3', body: 'hello!' });
    // Nothing else went wrong on the way: no iq error, and no message it did not expect.
    expect(slixmpp.reports.filter((r) => r.event !== 'message')).toEqual([]);
  });
});
