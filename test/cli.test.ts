/**
 * The `irsp` command (packages/cli) against a whole IRSP on loopback — the topology `pnpm start` writes, on ports
 * chosen at run time — every verb with its text, `--json` and exit status, in-process and through the bin.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client } from '@xmpp/client';
import { defaultTopologyYaml, startIrsp, type RunningIrsp } from '@irsp/all-in-one';
import { EXIT, run } from '@irsp/cli';
import { hashPassword, parsePasswordHash, randomSecret, verifyPassword } from '@irsp/credentials';
import { parseTopology, type Topology } from '@irsp/config';
import { captureLogger, dropTopologySchemas, freePorts, tempDir } from './support/irsp.js';
import { trustCaForXmppClients, xmppLogin } from './support/xmpp.js';

const bin = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));

let dir: Awaited<ReturnType<typeof tempDir>>;
let irsp: RunningIrsp;
let untrust: () => void;
/** The topology as run, for the schemas to drop. */
let schemas: Topology | undefined;
const operator = { name: 'admin', password: randomSecret() };

beforeAll(async () => {
  dir = await tempDir('irsp-cli-');
  const p = await freePorts(15);
  const as = (i: number) => ({
    messageServer: p[1 + i * 7]!,
    c2s: p[2 + i * 7]!,
    directTls: p[3 + i * 7]!,
    websocket: p[4 + i * 7]!,
    s2s: p[5 + i * 7]!,
    applicationServer: p[6 + i * 7]!,
    smartlock: p[7 + i * 7]!,
  });
  const yaml = defaultTopologyYaml(
    { name: operator.name, passwordHash: await hashPassword(operator.password) },
    { accountServer: p[0]!, autonomousSystems: [as(0), as(1)] },
  );
  // As `pnpm start` writes it, with its state in the temporary folder.
  const topology = parse(yaml) as Record<string, unknown>;
  topology.tls = { mode: 'local', dir: join(dir.path, 'tls') };
  topology.database = { dataDir: join(dir.path, 'data') };
  topology.logLevel = 'warn';
  // On a shared PostgreSQL (DATABASE_URL) this run gets schemas of its own, dropped at the end: the names pnpm start
  // uses would meet what an earlier run left.
  const prefix = `c${randomSecret(6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')}`;
  const doc = topology as {
    accountServer: { database?: { schema: string } };
    autonomousSystems: {
      database?: { schema: string };
      applicationServers: { name: string; database?: { schema: string } }[];
    }[];
  };
  doc.accountServer.database = { schema: `${prefix}_account` };
  doc.autonomousSystems.forEach((as, i) => {
    as.database = { schema: `${prefix}_ms${i}` };
    for (const app of as.applicationServers) app.database = { schema: `${prefix}_app${i}_${app.name}` };
  });
  schemas = parseTopology(topology, { DATABASE_URL: process.env.DATABASE_URL });
  await writeFile(join(dir.path, 'irsp.yaml'), stringify(topology), { mode: 0o600 });
  await writeFile(join(dir.path, 'operator.json'), JSON.stringify(operator), { mode: 0o600 });
  irsp = await startIrsp({
    topologyFile: join(dir.path, 'irsp.yaml'),
    stateDir: dir.path,
    logger: captureLogger('irsp').logger,
  });
  untrust = trustCaForXmppClients(await readFile(irsp.manifest.caCert, 'utf8'));
}, 120_000);

afterAll(async () => {
  untrust?.();
  await irsp?.close();
  if (schemas) await dropTopologySchemas(schemas);
  await dir?.remove();
});

interface Ran {
  exit: number;
  stdout: string;
  stderr: string;
}

async function irspCommand(
  args: string[],
  options: { env?: Record<string, string>; signal?: AbortSignal; onStdout?: (text: string) => void } = {},
): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const exit = await run(args, {
    stdout: (text) => {
      stdout += text;
      options.onStdout?.(text);
    },
    stderr: (text) => (stderr += text),
    env: { IRSP_MANIFEST: irsp.manifestPath, ...options.env },
    cwd: dir.path,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { exit, stdout, stderr };
}

const json = async (args: string[], env?: Record<string, string>) => {
  const ran = await irspCommand([...args, '--json'], { env });
  return { exit: ran.exit, body: JSON.parse(ran.stdout) as Record<string, unknown>, stderr: ran.stderr };
};

/** A manifest like the running one, changed. */
async function manifestWith(change: (m: Record<string, unknown>) => void): Promise<string> {
  const m = JSON.parse(await readFile(irsp.manifestPath, 'utf8')) as Record<string, unknown>;
  change(m);
  const path = join(dir.path, `manifest-${randomSecret(4)}.json`);
  await writeFile(path, JSON.stringify(m));
  return path;
}

describe('help and usage', () => {
  it('--help lists every verb (exit 0); no verb or an unknown one is a usage error (exit 2)', async () => {
    const help = await irspCommand(['--help']);
    expect(help.exit).toBe(EXIT.ok);
    for (const verb of [
      'status',
      'accounts list',
      'accounts show ID',
      'accounts register ID',
      'accounts remove ID',
      'sessions',
      'kick JID',
      'push FROM ID DATA',
      'exchange FROM TO ID DATA',
      'tail APP',
      'outbox',
      's2s',
      'failed-logins',
      'hash-password',
    ])
      expect(help.stdout).toContain(`  ${verb}`);
    expect((await irspCommand([])).exit).toBe(EXIT.usage);
    const unknown = await irspCommand(['frobnicate']);
    expect(unknown.exit).toBe(EXIT.usage);
    expect(unknown.stderr).toMatch(/^irsp: unknown verb: frobnicate\n/);
  });

  it.each([
    'status',
    'accounts list',
    'accounts show',
    'accounts register',
    'accounts remove',
    'sessions',
    'kick',
    'push',
    'exchange',
    'tail',
    'outbox',
    's2s',
    'failed-logins',
    'hash-password',
  ])('%s --help (exit 0)', async (verb) => {
    const words = verb.split(' ');
    const ran = await irspCommand([...words, '--help']);
    expect(ran.exit).toBe(EXIT.ok);
    expect(ran.stdout).toMatch(new RegExp(`^Usage: irsp ${words.join(' ')}`));
    expect(ran.stdout).toContain('Exit status: 0 done');
  });

  it('an unknown option, a missing argument, a missing manifest: exit 2, with --json an error object', async () => {
    expect((await irspCommand(['status', '--bogus'])).exit).toBe(EXIT.usage);
    const missing = await irspCommand(['accounts', 'show', '--json']);
    expect(missing.exit).toBe(EXIT.usage);
    expect(JSON.parse(missing.stdout)).toEqual({ error: 'accounts show takes ID', exit: 2 });
    const noManifest = await irspCommand(['status'], { env: { IRSP_MANIFEST: join(dir.path, 'none.json') } });
    expect(noManifest.exit).toBe(EXIT.usage);
    expect(noManifest.stderr).toContain('no manifest at');
  });
});

describe('status', () => {
  it('every service healthy: a table, or JSON (exit 0)', async () => {
    const text = await irspCommand(['status']);
    expect(text.exit).toBe(EXIT.ok);
    expect(text.stdout.split('\n')[0]).toMatch(/^SERVICE +AS +NAME +URL +STATE +UPTIME$/);
    const { exit, body } = await json(['status']);
    expect(exit).toBe(EXIT.ok);
    const services = body.services as { service: string; state: string }[];
    expect(body.healthy).toBe(true);
    expect(services.map((s) => `${s.service} ${s.state}`)).toEqual([
      'account-server healthy',
      'message-server healthy',
      'application-server healthy',
      'application-server healthy',
      'message-server healthy',
      'application-server healthy',
      'application-server healthy',
    ]);
  });

  it('without operator credentials exit 4; with wrong ones exit 4', async () => {
    const path = await manifestWith((m) => delete m.operator);
    const none = await irspCommand(['status', '--manifest', path]);
    expect(none.exit).toBe(EXIT.unauthorized);
    expect(none.stderr).toContain('no operator credentials');
    const wrong = await irspCommand(['accounts', 'list'], {
      env: { IRSP_OPERATOR: 'admin:not-the-password' },
    });
    expect(wrong.exit).toBe(EXIT.unauthorized);
    expect(wrong.stderr).toContain(
      'refused the credentials: operator credentials (HTTP Basic name:password)',
    );
  });

  it('a server down: status says unreachable (exit 1), a verb that needs it exits 3', async () => {
    const [closed] = await freePorts(1);
    const path = await manifestWith((m) => {
      (m.accountServer as { url: string }).url = `https://127.0.0.1:${closed}`;
    });
    const { exit, body } = await json(['status', '--manifest', path]);
    expect(exit).toBe(EXIT.failed);
    expect(body.healthy).toBe(false);
    expect((body.services as { state: string }[])[0]!.state).toBe('unreachable');
    const list = await irspCommand(['accounts', 'list', '--manifest', path]);
    expect(list.exit).toBe(EXIT.unreachable);
    expect(list.stderr).toContain(`https://127.0.0.1:${closed} unreachable: ECONNREFUSED`);
  });
});

describe('accounts, sessions, kick, failed logins', () => {
  let alice: Client | undefined;
  afterAll(async () => alice?.stop().catch(() => undefined));

  it('registers a user and a device (exit 0), not twice (exit 1)', async () => {
    const user = await irspCommand(['accounts', 'register', 'alice@as1.irsp.test', '--password', 'alice pw']);
    expect(user).toMatchObject({ exit: EXIT.ok, stdout: 'registered alice@as1.irsp.test\n' });
    const device = await json(['accounts', 'register', '#lock1@as1.irsp.test', '--password', 'lock pw']);
    expect(device.exit).toBe(EXIT.ok);
    expect(device.body).toEqual({ id: '#lock1@as1.irsp.test', outcome: { kind: 'status', status: 200 } });
    const again = await irspCommand(['accounts', 'register', 'alice@as1.irsp.test', '--password', 'x']);
    expect(again).toMatchObject({
      exit: EXIT.failed,
      stdout: 'register alice@as1.irsp.test: 421 id existed\n',
    });
    expect((await irspCommand(['accounts', 'register', 'alice@as1.irsp.test'])).exit).toBe(EXIT.usage);
  });

  it('lists and searches accounts', async () => {
    const { exit, body } = await json(['accounts', 'list']);
    expect(exit).toBe(EXIT.ok);
    expect((body.accounts as { id: string }[]).map((a) => a.id)).toEqual([
      'alice@as1.irsp.test',
      '#lock1@as1.irsp.test',
    ]);
    const text = await irspCommand(['accounts', 'list', '--search', 'lock']);
    expect(text.stdout).toMatch(/^ID +KIND +STATE +CREATED\n#lock1@as1\.irsp\.test +device +active +\d{4}-/);
    expect((await irspCommand(['accounts', 'list', '--limit', '0'])).exit).toBe(EXIT.failed);
  });

  it('lists sessions, shows an account with them, and ends one', async () => {
    const xmpp = irsp.manifest.autonomousSystems[0]!.messageServers[0]!.xmpp!;
    alice = await xmppLogin({
      port: xmpp.c2sPort,
      domain: 'as1.irsp.test',
      username: 'alice',
      password: 'alice pw',
      resource: 'cli',
    });
    const listed = await json(['sessions']);
    expect(listed.exit).toBe(EXIT.ok);
    expect(listed.body.sessions).toEqual([
      {
        as: 'as1.irsp.test',
        messageServer: 'ms1',
        jid: 'alice@as1.irsp.test/cli',
        since: expect.any(String),
        remoteAddress: '127.0.0.1',
      },
    ]);
    expect((await json(['sessions', '--as', 'as2.irsp.test'])).body).toEqual({ sessions: [] });
    const shown = await json(['accounts', 'show', 'alice@as1.irsp.test']);
    expect(shown.exit).toBe(EXIT.ok);
    expect(shown.body).toMatchObject({
      account: { id: 'alice@as1.irsp.test', kind: 'user', state: 'active' },
      relationships: [],
      sessions: [{ resource: 'cli', messageServer: 'ms1' }],
    });
    const text = await irspCommand(['accounts', 'show', 'alice@as1.irsp.test']);
    expect(text.stdout).toMatch(
      /^alice@as1\.irsp\.test {2}user, active, created .*\n {2}relationships: none\n {2}sessions:\n {4}RESOURCE/,
    );
    const ended = new Promise((resolve) => alice!.on('error', resolve));
    const kicked = await json(['kick', 'alice@as1.irsp.test/cli']);
    expect(kicked).toMatchObject({
      exit: EXIT.ok,
      body: { kicked: 'alice@as1.irsp.test/cli', messageServer: 'ms1' },
    });
    await ended;
    const again = await irspCommand(['kick', 'alice@as1.irsp.test/cli']);
    expect(again.exit).toBe(EXIT.failed);
    expect(again.stderr).toBe('irsp: no message server of as1.irsp.test holds alice@as1.irsp.test/cli\n');
    expect((await irspCommand(['kick', 'alice@as1.irsp.test'])).exit).toBe(EXIT.usage);
    expect((await irspCommand(['kick', 'alice@as9.irsp.test/x'])).exit).toBe(EXIT.usage);
  });

  it('an account that does not exist: exit 1', async () => {
    const missing = await irspCommand(['accounts', 'show', 'nobody@as1.irsp.test']);
    expect(missing.exit).toBe(EXIT.failed);
    expect(missing.stderr).toBe('irsp: 404: no such account\n');
  });

  it('removes an account with its password: a wrong one exit 4 and shows among failed logins', async () => {
    const wrong = await irspCommand(['accounts', 'remove', '#lock1@as1.irsp.test', '--password', 'wrong']);
    expect(wrong).toMatchObject({
      exit: EXIT.unauthorized,
      stdout: 'remove #lock1@as1.irsp.test: 401 unauthorized\n',
    });
    const failures = await json(['failed-logins']);
    expect(failures.exit).toBe(EXIT.ok);
    expect(failures.body.failures).toContainEqual({
      server: 'account-server',
      scope: 'password',
      target: '#lock1',
      source: '127.0.0.1',
      at: expect.any(String),
    });
    expect((await irspCommand(['failed-logins'])).stdout).toMatch(/^AT +SERVER +CHECK +ACCOUNT +SOURCE\n/);
    const removed = await irspCommand([
      'accounts',
      'remove',
      '#lock1@as1.irsp.test',
      '--password',
      'lock pw',
    ]);
    expect(removed).toMatchObject({ exit: EXIT.ok, stdout: 'removed #lock1@as1.irsp.test\n' });
  });

  it('removes an account as an operator, without its password (exit 0), and not twice (exit 1)', async () => {
    const registered = await irspCommand([
      'accounts',
      'register',
      'dave@as2.irsp.test',
      '--password',
      'dave pw',
    ]);
    expect(registered.exit).toBe(EXIT.ok);
    const removed = await json(['accounts', 'remove', 'dave@as2.irsp.test']);
    expect(removed).toMatchObject({ exit: EXIT.ok, body: { removed: 'dave@as2.irsp.test' } });
    const again = await irspCommand(['accounts', 'remove', 'dave@as2.irsp.test']);
    expect(again).toMatchObject({ exit: EXIT.failed, stderr: 'irsp: 404: no such account\n' });
    expect((await json(['accounts', 'list', '--search', 'dave'])).body).toEqual({ accounts: [] });
  });
});

describe('push, exchange, tail, outbox', () => {
  it('pushes to a user (Message 12): exit 0; to an unknown one: the message server says 422 (exit 1)', async () => {
    const pushed = await json(['push', 'default', 'alice@as1.irsp.test', 'hello']);
    expect(pushed).toMatchObject({
      exit: EXIT.ok,
      body: { message: 12, from: 'default@as1.irsp.test', status: 200 },
    });
    const unknown = await irspCommand(['push', 'default', 'nobody@as1.irsp.test', 'hello']);
    expect(unknown).toMatchObject({
      exit: EXIT.failed,
      stdout: 'Message 12 to nobody@as1.irsp.test: receiver answered 422 id not existed\n',
    });
    expect((await irspCommand(['push', 'default', 'alice@as2.irsp.test', 'x'])).exit).toBe(EXIT.usage);
  });

  it('exchanges within an AS and across ASs (Messages 14–15), and tail shows what arrived', async () => {
    const within = await irspCommand([
      'exchange',
      'default',
      'smartlock',
      'alice@as1.irsp.test',
      'in the AS',
    ]);
    expect(within).toMatchObject({
      exit: EXIT.ok,
      stdout:
        'Message 14 from default@as1.irsp.test to smartlock@as1.irsp.test about alice@as1.irsp.test: delivered (200)\n',
    });
    const across = await json([
      'exchange',
      'default@as1.irsp.test',
      'default@as2.irsp.test',
      '#lock9@as1.irsp.test',
      'across',
    ]);
    expect(across).toMatchObject({ exit: EXIT.ok, body: { message: 15, outcome: 'status', status: 200 } });
    const tailed = await irspCommand(['tail', 'default@as2.irsp.test', '--once', '--json']);
    expect(tailed.exit).toBe(EXIT.ok);
    const lines = tailed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { message: number; params: Record<string, string> });
    expect(lines.at(-1)).toMatchObject({
      message: 15,
      params: { deviceid: '#lock9', data: 'across', as: 'as1.irsp.test' },
    });
    const text = await irspCommand(['tail', 'default@as2.irsp.test', '--once']);
    expect(text.stdout).toMatch(
      /#\d+ {2}Message 15 \(exchangeDeviceAcrossAs\) {2}as=as1\.irsp\.test data=across deviceid=#lock9\n$/,
    );
  });

  it('tail follows until stopped', async () => {
    const stop = new AbortController();
    const after = JSON.parse(
      (await irspCommand(['tail', 'default@as2.irsp.test', '--once', '--json'])).stdout
        .trim()
        .split('\n')
        .at(-1)!,
    ) as { id: number };
    let seen!: () => void;
    const arrived = new Promise<void>((resolve) => (seen = resolve));
    const following = irspCommand(['tail', 'default@as2.irsp.test', '--after', String(after.id)], {
      signal: stop.signal,
      onStdout: (text) => text.includes('data=live') && seen(),
    });
    await irspCommand([
      'exchange',
      'default@as1.irsp.test',
      'default@as2.irsp.test',
      'alice@as1.irsp.test',
      'live',
    ]);
    await arrived;
    stop.abort();
    const ran = await following;
    expect(ran.exit).toBe(EXIT.ok);
    expect(ran.stderr).toContain('irsp: following default@as2.irsp.test (Ctrl-C stops)');
    expect(ran.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('an exchange to an application server that is no peer: refused (exit 1)', async () => {
    const refused = await irspCommand([
      'exchange',
      'default@as1.irsp.test',
      'smartlock@as2.irsp.test',
      'alice@as1.irsp.test',
      'x',
    ]);
    expect(refused).toMatchObject({
      exit: EXIT.failed,
      stdout: expect.stringContaining('refused by default@as1.irsp.test: to and as name no configured peer'),
    });
  });

  it('outbox: per message server (exit 0)', async () => {
    const { exit, body } = await json(['outbox']);
    expect(exit).toBe(EXIT.ok);
    expect((body.messageServers as { as: string; deadLetters: number }[]).map((m) => m.as)).toEqual([
      'as1.irsp.test',
      'as2.irsp.test',
    ]);
    expect((await irspCommand(['outbox'])).exit).toBe(EXIT.ok);
  });
});

describe('s2s', () => {
  it('no links before anything crossed; then the stream AS1 opened to AS2, from both ends', async () => {
    const before = await irspCommand(['s2s']);
    expect(before).toMatchObject({
      exit: EXIT.ok,
      stdout: 'no s2s links (a link opens when a stanza first goes to another domain)\n',
    });
    const xmpp = irsp.manifest.autonomousSystems[0]!.messageServers[0]!.xmpp!;
    const alice = await xmppLogin({
      port: xmpp.c2sPort,
      domain: 'as1.irsp.test',
      username: 'alice',
      password: 'alice pw',
      resource: 's2s',
    });
    try {
      // A subscription request crosses to AS2 whoever bob is (a message to a stranger would be refused here).
      await alice.send(xml('presence', { to: 'bob@as2.irsp.test', type: 'subscribe' }));
      const links = async () =>
        ((await json(['s2s'])).body.links as { local: string; peer: string; direction: string }[])
          .map((l) => `${l.local} ${l.direction} ${l.peer}`)
          .sort();
      await expect
        .poll(links, { timeout: 20_000 })
        .toEqual(
          expect.arrayContaining([
            'as1.irsp.test outgoing as2.irsp.test',
            'as2.irsp.test incoming as1.irsp.test',
          ]),
        );
      const { exit, body } = await json(['s2s']);
      expect(exit).toBe(EXIT.ok);
      expect(body.links).toContainEqual({
        messageServer: 'ms1',
        local: 'as1.irsp.test',
        peer: 'as2.irsp.test',
        direction: 'outgoing',
        method: expect.stringMatching(/^(sasl-external|dialback)$/),
        since: expect.any(String),
      });
      const text = await irspCommand(['s2s']);
      expect(text.stdout).toMatch(/^AS +MESSAGE SERVER +PEER +DIRECTION +AUTHENTICATED BY +SINCE\n/);
    } finally {
      await alice.stop();
    }
  });
});

describe('hash-password', () => {
  const withStdin = (args: string[], stdin: string) =>
    run(args, {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      env: {},
      cwd: dir.path,
      stdin: async () => stdin,
    });
  let out: string[] = [];
  let err: string[] = [];

  it('hashes the password on stdin for the topology (exit 0), with no manifest', async () => {
    out = [];
    expect(await withStdin(['hash-password'], 'a long operator password\n')).toBe(EXIT.ok);
    const hash = out.join('').trim();
    expect(parsePasswordHash(hash)).toBeDefined();
    expect(await verifyPassword('a long operator password', hash)).toBe(true);
    out = [];
    expect(await withStdin(['hash-password', '--json'], 'a long operator password')).toBe(EXIT.ok);
    expect(Object.keys(JSON.parse(out.join('')) as object)).toEqual(['passwordHash']);
  });

  it('refuses a short password (exit 2)', async () => {
    err = [];
    expect(await withStdin(['hash-password'], 'short\n')).toBe(EXIT.usage);
    expect(err.join('')).toBe('irsp: the password on stdin must be at least 12 characters\n');
  });
});

describe('the bin', () => {
  it('runs with the manifest from the environment and exits with the verb status', async () => {
    const child = spawn(process.execPath, [bin, 'status', '--json'], {
      env: { ...process.env, IRSP_MANIFEST: irsp.manifestPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as { healthy: boolean }).healthy).toBe(true);
    const usage = spawn(process.execPath, [bin, 'nope'], { stdio: 'ignore' });
    expect(await new Promise((resolve) => usage.on('exit', resolve))).toBe(2);
  });
});
