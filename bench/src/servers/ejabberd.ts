/**
 * ejabberd from Debian's package, run as root without ejabberdctl (which would switch to the ejabberd user and
 * read /etc/ejabberd): `erl -s ejabberd` with the run's config and Mnesia directory, no Erlang distribution.
 * Shapers off, unlimited sessions and offline storage, and mod_http_api for `register` and `send_message`.
 * Its schedulers do not busy-wait (ejabberdCommand).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HttpsLoad } from '../load/http.js';
import { inParallel } from '../load/session.js';
import { ServerProcess } from './process.js';
import { debianVersion, freePorts, sleep, waitForPort } from './system.js';
import { DOMAIN, PASSWORD, type LaunchOptions, type ServerUnderTest } from './types.js';

export function ejabberdConfig(o: {
  c2sPort: number;
  httpPort: number;
  certFile: string;
  requireTls: boolean;
}): string {
  return `# Written by bench/src/servers/ejabberd.ts for one benchmark run.
hosts: ["${DOMAIN}"]
loglevel: warning
certfiles: ["${o.certFile}"]
listen:
  - port: ${o.c2sPort}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: 1024
    max_stanza_size: 262144
    shaper: none
    access: all
    starttls: true
    starttls_required: ${o.requireTls}
    protocol_options: ["no_sslv3", "no_tlsv1", "no_tlsv1_1"]
  - port: ${o.httpPort}
    ip: "127.0.0.1"
    module: ejabberd_http
    backlog: 1024
    tls: true
    request_handlers:
      /api: mod_http_api
shaper: {}
shaper_rules:
  max_user_sessions: infinity
  max_user_offline_messages: infinity
  c2s_shaper: none
acl:
  loopback:
    ip: ["127.0.0.0/8"]
access_rules:
  local:
    allow: all
  c2s:
    allow: all
api_permissions:
  "load generator on loopback":
    who:
      ip: 127.0.0.0/8
    what: ["register", "send_message", "get_offline_count"]
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha
modules:
  mod_roster: {}
  mod_offline:
    access_max_user_messages: max_user_offline_messages
  mod_ping: {}
  mod_disco: {}
  mod_http_api: {}
  mod_admin_extra: {}
`;
}

/**
 * The command that starts ejabberd (after the pinning prefix): no shell, kernel poll, room for a million
 * processes, and no busy wait on any scheduler. Schedulers that run out of work spin for a while before they
 * sleep (erl(1): +sbwt, +sbwtdcpu, +sbwtdio for the normal, dirty CPU and dirty I/O ones), and /proc counts the
 * spinning as CPU: off, its CPU per unit of work is the work's, as for the other servers.
 */
export function ejabberdCommand(spool: string): string[] {
  return [
    'erl',
    '-noinput',
    '-noshell',
    '+K',
    'true',
    '+P',
    '1000000',
    '+sbwt',
    'none',
    '+sbwtdcpu',
    'none',
    '+sbwtdio',
    'none',
    '-mnesia',
    'dir',
    `"${spool}"`,
    '-s',
    'ejabberd',
  ];
}

/** The integer an ejabberd API command answers: a bare JSON number, or `{"value": n}` (older API versions). */
export function ejabberdCount(body: string): number {
  const parsed: unknown = JSON.parse(body);
  const value =
    typeof parsed === 'object' && parsed !== null ? (parsed as { value?: unknown }).value : parsed;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
    throw new Error(`not a count: ${body}`);
  return value;
}

export async function launchEjabberd(o: LaunchOptions): Promise<ServerUnderTest> {
  const { c2s: c2sPort, http: httpPort } = await freePorts(['c2s', 'http']);
  const spool = join(o.dir, 'spool');
  await mkdir(spool, { recursive: true });
  // ejabberd wants the key and certificate in one PEM file.
  const certFile = join(o.dir, 'server.pem');
  await writeFile(
    certFile,
    (await readFile(o.tls.certFile, 'utf8')) + (await readFile(o.tls.keyFile, 'utf8')),
    {
      mode: 0o600,
    },
  );
  const config = join(o.dir, 'ejabberd.yml');
  await writeFile(config, ejabberdConfig({ c2sPort, httpPort, certFile, requireTls: o.requireTls }));
  const child = ServerProcess.start([...o.prefix, ...ejabberdCommand(spool)], {
    logFile: join(o.dir, 'ejabberd.out'),
    cwd: o.dir,
    env: {
      EJABBERD_CONFIG_PATH: config,
      EJABBERD_LOG_PATH: join(o.dir, 'ejabberd.log'),
      ERL_LIBS: '/usr/lib/x86_64-linux-gnu',
      ERL_CRASH_DUMP: join(o.dir, 'erl_crash.dump'),
      ERL_MAX_PORTS: '65536',
    },
  });
  const ca = await readFile(o.tls.ca, 'utf8');
  const api = new HttpsLoad(`https://127.0.0.1:${httpPort}`, ca, 32);
  const register = async (name: string) => {
    const answer = await api.post(
      '/api/register',
      JSON.stringify({ user: name, host: DOMAIN, password: PASSWORD }),
      'application/json',
    );
    return answer.status === 200;
  };
  try {
    await waitForPort(c2sPort, 120_000);
    await waitForPort(httpPort, 30_000);
    // The listeners open before every module is up: wait for the API to answer.
    for (let i = 0; !(await register('warmup').catch(() => false)); i++) {
      if (i > 100) throw new Error('ejabberd API never answered');
      await sleep(200);
    }
  } catch (error) {
    await api.close();
    await child.stop();
    throw error;
  }
  return {
    name: 'ejabberd',
    version: debianVersion('ejabberd') ?? 'unknown',
    c2sPort,
    pid: child.pid,
    deviceLocalpart: (name) => name,
    async createAccounts(names) {
      const failed = (await inParallel(names, 16, register)).filter((ok) => !ok).length;
      if (failed > 0) throw new Error(`${failed} of ${names.length} ejabberd registrations failed`);
    },
    register,
    async push(localpart, data) {
      const body = { type: 'normal', from: DOMAIN, to: `${localpart}@${DOMAIN}`, subject: '', body: data };
      return (await api.post('/api/send_message', JSON.stringify(body), 'application/json')).status === 200;
    },
    async offlineCount(localpart) {
      const answer = await api.post(
        '/api/get_offline_count',
        JSON.stringify({ user: localpart, host: DOMAIN }),
        'application/json',
      );
      if (answer.status !== 200) throw new Error(`get_offline_count: ${answer.status} ${answer.body}`);
      return ejabberdCount(answer.body);
    },
    async stop() {
      await api.close();
      await child.stop();
    },
  };
}
