/**
 * Services as child processes, as they are deployed (`services/<service>/dist/main.js`, built by `tsc --build`),
 * on one topology file and databases that outlive them (PGlite data directories in a temporary folder, or schemas
 * of their own on DATABASE_URL): a test kills one with SIGKILL — no shutdown path runs — and starts it again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLocalCa, parseTopology, type Topology } from '@irsp/config';
import { randomSecret } from '@irsp/credentials';
import { dropTopologySchemas, form, freePorts, serverTlsFor, tempDir, TestClient } from './irsp.js';

export type ServiceKind = 'account-server' | 'message-server' | 'application-server';

/** The log line each service's main.ts writes once it listens. */
const READY: Record<ServiceKind, string> = {
  'account-server': 'account server listening',
  'message-server': 'message server listening',
  'application-server': 'application server listening',
};

/** Kept of a process's output, for the message of a failing test. */
const MAX_OUTPUT = 256 * 1024;

export class ServiceProcess {
  private output = '';
  private readonly exit: Promise<number | null>;
  private exited = false;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-MAX_OUTPUT);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exit = new Promise((resolve) =>
      child.on('exit', (code) => {
        this.exited = true;
        resolve(code);
      }),
    );
  }

  /** Starts `dist/main.js` of `kind` with `env` added to this process's, and waits until it listens. */
  static async start(
    kind: ServiceKind,
    name: string,
    env: Record<string, string>,
    timeoutMs = 60_000,
  ): Promise<ServiceProcess> {
    const main = fileURLToPath(new URL(`../../services/${kind}/dist/main.js`, import.meta.url));
    const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
    // Each service reads DATABASE_URL from the topology file; an empty one would override it there.
    delete childEnv.DATABASE_URL;
    const child = spawn(process.execPath, [main], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const service = new ServiceProcess(name, child);
    const until = Date.now() + timeoutMs;
    while (!service.output.includes(`"msg":"${READY[kind]}"`)) {
      if (service.exited) throw new Error(`${name} exited before listening:\n${service.output}`);
      if (Date.now() > until) {
        await service.kill();
        throw new Error(`${name} did not listen within ${timeoutMs} ms:\n${service.output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return service;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get log(): string {
    return this.output;
  }

  /** SIGKILL: the process ends at once, nothing of its shutdown runs. Resolves once it has exited. */
  async kill(): Promise<void> {
    if (!this.exited) this.child.kill('SIGKILL');
    await this.exit;
  }

  /** SIGINT, as an operator stops it; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (!this.exited) this.child.kill('SIGINT');
    return this.exit;
  }
}

/** An application server of the topology played by the test: what the message server sent it, in arrival order. */
export interface Received {
  path: string;
  params: Record<string, string>;
  /** The request's delivery mark (IRSP-Delivery-Id and -Attempt), null without one. */
  delivery: { id: string; attempt: number } | null;
}

/**
 * An HTTPS receiver for Messages 8–11 (or anything a service sends), on a certificate of the topology's CA: it
 * records each request's path, parameters (credentials left out) and delivery mark, and answers 200 with an empty
 * body.
 */
export class RecordingReceiver {
  private constructor(
    private readonly server: Server,
    readonly received: Received[],
  ) {}

  static async start(tlsDir: string, port: number): Promise<RecordingReceiver> {
    const tls = await serverTlsFor(tlsDir, `receiver-${port}`, []);
    const received: Received[] = [];
    const server = createHttpsServer({ cert: tls.cert, key: tls.key }, (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        const url = new URL(request.url ?? '/', 'https://receiver');
        const fields = new URLSearchParams(
          request.method === 'POST' ? Buffer.concat(chunks).toString('utf8') : url.search,
        );
        const params = Object.fromEntries(
          [...fields].filter(([name]) => name !== 'appid' && name !== 'token'),
        );
        const id = request.headers['irsp-delivery-id'];
        const attempt = Number(request.headers['irsp-delivery-attempt']);
        const delivery = typeof id === 'string' && Number.isInteger(attempt) ? { id, attempt } : null;
        received.push({ path: url.pathname, params, delivery });
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return new RecordingReceiver(server, received);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export interface ChaosIrspOptions {
  /** Message servers of the one AS (`as1.irsp.test`), sharing its database: ids ms1, ms2, … (default 1). */
  messageServers?: number;
  sessionLeaseMs?: number;
  reconcileIntervalMs?: number;
  /** How long a server waits for another's answer (default 5 000 ms); the account server settles after 6×. */
  requestTimeoutMs?: number;
  /** The application server's URL is the test's RecordingReceiver (true) or a real application server process. */
  receiver?: boolean;
}

/**
 * One AS (`as1.irsp.test`) with an account server, message servers with XMPP c2s, one application server, on free
 * loopback ports; the topology file is written to a temporary folder, whose `data/` holds the PGlite databases.
 */
export class ChaosIrsp {
  readonly processes: ServiceProcess[] = [];

  private constructor(
    readonly dir: { path: string; remove(): Promise<void> },
    readonly configPath: string,
    readonly topology: Topology,
    readonly ca: string,
    readonly receiver: RecordingReceiver | undefined,
  ) {}

  static async create(options: ChaosIrspOptions = {}): Promise<ChaosIrsp> {
    const dir = await tempDir('irsp-chaos-');
    const count = options.messageServers ?? 1;
    const [accountServer, app, ...rest] = await freePorts(2 + 2 * count);
    const prefix = `c${randomSecret(6)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')}`;
    const tlsDir = join(dir.path, 'tls');
    const ca = (await ensureLocalCa(tlsDir)).cert;
    const toAs = { appid: 'account-server-at-as1', token: randomSecret() };
    const raw = {
      tls: { mode: 'local', dir: tlsDir },
      database: {
        dataDir: join(dir.path, 'data'),
        ...(process.env.DATABASE_URL ? { url: process.env.DATABASE_URL } : {}),
      },
      http: { connectTimeoutMs: 2_000, requestTimeoutMs: options.requestTimeoutMs ?? 5_000 },
      logLevel: 'info',
      accountServer: {
        url: `https://127.0.0.1:${accountServer}`,
        listen: { host: '127.0.0.1', port: accountServer },
        database: { schema: `${prefix}_account` },
        ...(options.reconcileIntervalMs ? { reconcileIntervalMs: options.reconcileIntervalMs } : {}),
      },
      autonomousSystems: [
        {
          domain: 'as1.irsp.test',
          database: { schema: `${prefix}_ms_as1` },
          messageServers: Array.from({ length: count }, (_, i) => ({
            id: `ms${i + 1}`,
            url: `https://127.0.0.1:${rest[2 * i]}`,
            listen: { host: '127.0.0.1', port: rest[2 * i] },
            xmpp: { host: '127.0.0.1', c2sPort: rest[2 * i + 1] },
            ...(options.sessionLeaseMs ? { sessionLeaseMs: options.sessionLeaseMs } : {}),
            credentials: {
              accountServer: toAs,
              toAccountServer: { appid: `message-server-as1-${i + 1}`, token: randomSecret() },
            },
          })),
          applicationServers: [
            {
              name: 'default',
              url: `https://127.0.0.1:${app}`,
              listen: { host: '127.0.0.1', port: app },
              jid: 'default.as1.irsp.test',
              credentials: { appid: 'default-as1', token: randomSecret() },
              database: { schema: `${prefix}_app_as1` },
            },
          ],
        },
      ],
    };
    const configPath = join(dir.path, 'irsp.json');
    await writeFile(configPath, JSON.stringify(raw, null, 2), { mode: 0o600 });
    const topology = parseTopology(raw, {});
    const receiver = options.receiver ? await RecordingReceiver.start(tlsDir, app!) : undefined;
    return new ChaosIrsp(dir, configPath, topology, ca, receiver);
  }

  get as() {
    return this.topology.autonomousSystems[0]!;
  }

  /** Starts a service of the topology (a message server by its id) as a child process. */
  async start(kind: ServiceKind, id = 'ms1'): Promise<ServiceProcess> {
    const env: Record<string, string> = { IRSP_CONFIG: this.configPath, IRSP_AS: this.as.domain };
    if (kind === 'message-server') env.IRSP_MESSAGE_SERVER = id;
    const name = kind === 'message-server' ? `${kind} ${id}` : kind;
    const service = await ServiceProcess.start(kind, name, env);
    this.processes.push(service);
    return service;
  }

  /**
   * Creates a user (`alice`) or device (`#cam`) at the AS's message server as the account server does (Message
   * 1 or 2), with `extra` fields (a device's `verifycode`); the password is `<name> pw`.
   */
  async registerAtMessageServer(name: string, extra: Record<string, string> = {}): Promise<void> {
    const ms = this.as.messageServers[0]!;
    const http = new TestClient(this.ca);
    try {
      const path = name.startsWith('#') ? '/device/register' : '/user/register.xml';
      const fields = {
        version: '1',
        ...ms.credentials.accountServer,
        name,
        password: `${name} pw`,
        ...extra,
      };
      const answer = await http.post(`${ms.url}${path}`, form(fields));
      if (answer.status !== 200) throw new Error(`registering ${name}: ${answer.status} ${answer.body}`);
    } finally {
      await http.close();
    }
  }

  /** Kills what still runs, drops the schemas on DATABASE_URL and removes the folder. */
  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.kill()));
    await this.receiver?.close();
    await dropTopologySchemas(this.topology);
    await this.dir.remove();
  }
}
