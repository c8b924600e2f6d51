/** Our IRSP: a generated topology on ports of its own, run by irsp-child.ts, accounts made end to end. */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureServerCert } from '@irsp/config';
import { clientDeviceRegister, clientUserRegister, encodeForm } from '@irsp/protocol';
import { openDb, quoteSchema, type Db } from '@irsp/store';
import { stringify } from 'yaml';
import { HttpsLoad } from '../load/http.js';
import { inParallel } from '../load/session.js';
import { AppStub } from './app-stub.js';
import { ServerProcess } from './process.js';
import { freePorts, waitForPort } from './system.js';
import { DOMAIN, PASSWORD, type LaunchOptions, type ServerUnderTest } from './types.js';

const APP_JID = `default.${DOMAIN}`;

export interface IrspUnderTest extends ServerUnderTest {
  /** The application server the message server notifies (Messages 8–11). */
  readonly stub: AppStub;
  readonly appJid: string;
  /** The smart-lock application server in the IRSP's process, when launched with `smartlock`. */
  readonly smartlock: { url: string; jid: string; credentials: { appid: string; token: string } } | undefined;
  /**
   * SIGKILL of the IRSP's process (its account server and message server together), then a start of a new one
   * on the same topology, ports and databases, ready once its c2s port listens (the chaos scenario).
   */
  killAndRestart(): Promise<void>;
}

/**
 * The PostgreSQL side of a run on a database server: the schemas of this launch (one prefix of its own,
 * dropped at the end) and the pids of the backends serving it, found by application_name (`irsp_<schema>`,
 * set by @irsp/store) and polled, since pooled connections open on demand.
 */
class PostgresUnderTest {
  readonly pids = new Set<number>();
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly meter: Db,
    readonly prefix: string,
  ) {}

  static async open(url: string): Promise<PostgresUnderTest> {
    const prefix = `bench_${randomBytes(4).toString('hex')}_`;
    const meter = await openDb({ url, schema: `${prefix}meter`, poolMax: 1, idleTimeoutMs: 0 });
    const pg = new PostgresUnderTest(meter, prefix);
    pg.timer = setInterval(() => void pg.refresh().catch(() => undefined), 100);
    return pg;
  }

  async refresh(): Promise<void> {
    const ours = `irsp_${this.prefix}`;
    const r = await this.meter.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE left(application_name, $2) = $1 AND application_name <> $3`,
      [ours, ours.length, `irsp_${this.prefix}meter`],
    );
    for (const row of r.rows) this.pids.add(row.pid);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    const schemas = await this.meter.query<{ nspname: string }>(
      'SELECT nspname FROM pg_namespace WHERE left(nspname, $2) = $1',
      [this.prefix, this.prefix.length],
    );
    for (const { nspname } of schemas.rows)
      await this.meter.exec(`DROP SCHEMA ${quoteSchema(nspname)} CASCADE`);
    await this.meter.close();
  }
}

export async function launchIrsp(
  o: LaunchOptions & { cpuProfileDir?: string; database?: string; smartlock?: boolean; cluster?: boolean },
): Promise<IrspUnderTest> {
  if (o.cluster && !o.database) throw new Error('a cluster needs PostgreSQL (--database)');
  const {
    account: accountPort,
    admin: adminPort,
    c2s: starttlsPort,
    plain: plainPort,
    stub: stubPort,
    smartlock: smartlockPort,
    admin2: admin2Port,
    c2s2: starttls2Port,
    plain2: plain2Port,
  } = await freePorts(['account', 'admin', 'c2s', 'plain', 'stub', 'smartlock', 'admin2', 'c2s2', 'plain2']);
  // Without TLS the load connects to `xmpp.plainPort`, the listener meant for a TLS-terminating proxy.
  const c2sPort = o.requireTls ? starttlsPort : plainPort;
  const c2s2Port = o.requireTls ? starttls2Port : plain2Port;
  const token = () => randomBytes(24).toString('base64url');
  const credentials = { appid: 'default-as1', token: token() };
  // The smart-lock application server, in the IRSP's process (its CPU is the server's): Messages 8–11 from the
  // message server, 12–13 back to it.
  const smartlock = o.smartlock
    ? {
        name: 'smartlock',
        url: `https://127.0.0.1:${smartlockPort}`,
        listen: { host: '127.0.0.1', port: smartlockPort },
        jid: `smartlock.${DOMAIN}`,
        credentials: { appid: 'smartlock-as1', token: token() },
        applications: ['smartlock'],
      }
    : undefined;
  const messageServerCredentials = {
    accountServer: { appid: 'account-server-at-as1', token: token() },
    toAccountServer: { appid: 'message-server-as1', token: token() },
  };
  const messageServerEntry = (id: string, admin: number, starttls: number, plain: number) => ({
    id,
    url: `https://127.0.0.1:${admin}`,
    listen: { host: '127.0.0.1', port: admin },
    pushUri: '/push',
    xmpp: { host: '127.0.0.1', c2sPort: starttls, ...(o.requireTls ? {} : { plainPort: plain }) },
    credentials: messageServerCredentials,
  });
  const topology = {
    tls: { mode: 'local', dir: o.tls.dir },
    // A cluster's AS must name PostgreSQL; the child opens its schemas itself (IRSP_BENCH_DATABASE_URL).
    database: { dataDir: join(o.dir, 'data'), ...(o.cluster ? { url: o.database } : {}) },
    logLevel: 'warn',
    accountServer: {
      url: `https://127.0.0.1:${accountPort}`,
      listen: { host: '127.0.0.1', port: accountPort },
    },
    autonomousSystems: [
      {
        domain: DOMAIN,
        ...(o.cluster
          ? { cluster: { nats: [process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'], secret: token() } }
          : {}),
        messageServers: [
          messageServerEntry('ms1', adminPort, starttlsPort, plainPort),
          ...(o.cluster ? [messageServerEntry('ms2', admin2Port, starttls2Port, plain2Port)] : []),
        ],
        applicationServers: [
          {
            name: 'default',
            url: `https://127.0.0.1:${stubPort}`,
            listen: { host: '127.0.0.1', port: stubPort },
            jid: APP_JID,
            credentials,
          },
          ...(smartlock ? [smartlock] : []),
        ],
      },
    ],
  };
  await mkdir(o.dir, { recursive: true });
  const topologyFile = join(o.dir, 'irsp.yaml');
  await writeFile(topologyFile, stringify(topology), { mode: 0o600 });
  const stubTls = await ensureServerCert(o.tls.dir, 'bench-app-stub', {
    dns: ['localhost'],
    ip: ['127.0.0.1'],
  });
  const stub = new AppStub(stubPort, stubTls);
  await stub.start();

  const node = [process.execPath, '--expose-gc'];
  if (o.cpuProfileDir) node.push('--cpu-prof', `--cpu-prof-dir=${o.cpuProfileDir}`);
  const pg = o.database ? await PostgresUnderTest.open(o.database) : undefined;
  // `ms2`: the cluster's second message server alone, in a process of its own (after the first made the schemas).
  const start = (only?: 'ms2') =>
    ServerProcess.start(
      [...o.prefix, ...node, new URL('./irsp-child.js', import.meta.url).pathname, topologyFile],
      {
        logFile: join(o.dir, only ? `irsp-${only}.log` : 'irsp.log'),
        ipc: true,
        env: {
          ...(pg ? { IRSP_BENCH_DATABASE_URL: o.database, IRSP_BENCH_SCHEMA_PREFIX: pg.prefix } : {}),
          ...(only ? { IRSP_BENCH_MESSAGE_SERVER: only } : {}),
        },
      },
    );
  let child = start();
  let second: ServerProcess | undefined;
  try {
    await child.ready(120_000);
    await waitForPort(c2sPort);
    if (o.cluster) {
      second = start('ms2');
      await second.ready(120_000);
      await waitForPort(c2s2Port);
    }
    await pg?.refresh();
  } catch (error) {
    await second?.stop();
    await child.stop();
    await stub.stop();
    await pg?.close();
    throw error;
  }
  const ca = await readFile(o.tls.ca, 'utf8');
  const accountServer = new HttpsLoad(`https://127.0.0.1:${accountPort}`, ca, 8);
  const messageServer = new HttpsLoad(`https://127.0.0.1:${adminPort}`, ca, 32);
  const register = async (name: string, kind: 'user' | 'device') => {
    const answer =
      kind === 'user'
        ? await accountServer.post(
            clientUserRegister.path!,
            encodeForm([
              ['userid', `${name}@${DOMAIN}`],
              ['password', PASSWORD],
            ]),
          )
        : await accountServer.post(
            clientDeviceRegister.path!,
            encodeForm([
              ['deviceid', `#${name}@${DOMAIN}`],
              ['password', PASSWORD],
            ]),
          );
    return answer.status === 200;
  };
  return {
    name: 'irsp',
    version: gitVersion(),
    c2sPort,
    ...(second ? { c2sPorts: [c2sPort, c2s2Port] } : {}),
    pid: child.pid,
    ...(pg ? { databasePids: () => pg.pids } : {}),
    ...(second ? { otherPids: () => [second.pid, ...pidsNamed('nats-server')] } : {}),
    stub,
    appJid: APP_JID,
    smartlock: smartlock && { url: smartlock.url, jid: smartlock.jid, credentials: smartlock.credentials },
    deviceLocalpart: (name) => `#${name}`,
    async createAccounts(names, kind) {
      // End to end, as a user would: the account server's client API, which sends Message 1/2.
      const failed = (await inParallel(names, 16, (name) => register(name, kind))).filter((ok) => !ok).length;
      if (failed > 0) throw new Error(`${failed} of ${names.length} registrations failed`);
    },
    register: (name) => register(name, 'user'),
    async killAndRestart() {
      await child.kill();
      child = start();
      await child.ready(120_000);
      await waitForPort(c2sPort);
    },
    async collectGarbage() {
      await child.ask('gc');
    },
    async offlineCount(localpart) {
      const answer = (await child.ask({ offlineCount: localpart })) as {
        offlineCount?: number;
        error?: string;
      };
      if (typeof answer.offlineCount !== 'number')
        throw new Error(`offline count: ${answer.error ?? JSON.stringify(answer)}`);
      return answer.offlineCount;
    },
    async push(localpart, data) {
      const key = localpart.startsWith('#') ? 'deviceid' : 'userid';
      const answer = await messageServer.post(
        '/push',
        encodeForm([
          [key, localpart],
          ['data', data],
          ['appid', credentials.appid],
          ['token', credentials.token],
        ]),
      );
      return answer.status === 200;
    },
    async stop() {
      await accountServer.close();
      await messageServer.close();
      await second?.stop(60_000);
      await child.stop(60_000);
      await stub.stop();
      await pg?.close();
    },
  };
}

/** The processes called `comm` (the NATS server a cluster uses: its CPU is the cluster's too). */
function pidsNamed(comm: string): number[] {
  return readdirSync('/proc').flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      return readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm ? [Number(entry)] : [];
    } catch {
      return []; // ended meanwhile
    }
  });
}

/** The commit under test, marked when the working tree has changes. */
function gitVersion(): string {
  const git = (...args: string[]) => spawnSync('git', args, { encoding: 'utf8' }).stdout.trim();
  const commit = git('rev-parse', '--short', 'HEAD') || 'unknown';
  return git('status', '--porcelain', '--untracked-files=no') ? `${commit}+changes` : commit;
}
