/** The IRSP topology file: loading, `${VAR}` substitution, env overrides, validation and service selection. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  applyEnvOverrides,
  applicationServerSchemaName,
  applicationsOf,
  databaseFor,
  findAs,
  listenOverride,
  loadTopology,
  messageServerSchemaName,
  otherEmbeddedLayout,
  parseTopology,
  selectApplicationServer,
  selectAs,
  selectMessageServer,
  s2sRoutes,
  substituteEnv,
  type Topology,
} from '../src/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'irsp-topology-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;
async function topologyFile(text: string, ext = 'yaml'): Promise<string> {
  files += 1;
  const file = join(dir, `irsp-${files}.${ext}`);
  await writeFile(file, text);
  return file;
}

/** The error a call throws, checked to be a ConfigError. */
async function configError(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).name).toBe('ConfigError');
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

const invalid = (...lines: string[]) => `invalid IRSP topology:\n${lines.map((l) => `  ${l}`).join('\n')}`;

const TOKEN = '0123456789abcdef';

const MINIMAL_YAML = `
accountServer:
  url: https://account.irsp.test:8443
  listen: { port: 8443 }
autonomousSystems:
  - domain: as1.irsp.test
    messageServers:
      - id: ms1
        url: https://ms1.as1.irsp.test:8543
        listen: { port: 8543 }
        credentials:
          accountServer:
            appid: account-server-at-as1
            token: \${AS1_ACCOUNT_SERVER_TOKEN}
          toAccountServer: { appid: message-server-as1, token: '\${AS1_MS_TOKEN:-fedcba9876543210}' }
`;

const MINIMAL_EXPECTED: Topology = {
  tls: { mode: 'local', dir: '.irsp/tls' },
  database: { dataDir: '.irsp/data' },
  http: { method: 'POST', connectTimeoutMs: 5000, requestTimeoutMs: 10000 },
  logLevel: 'info',
  federation: { routes: {}, bounceTimeoutMs: 30000 },
  operators: [],
  guessing: {
    passwords: {
      backoff: {
        freeFailures: 5,
        baseDelayMs: 1000,
        maxDelayMs: 60000,
        forgetAfterMs: 900000,
        maxEntries: 100000,
      },
      limits: {
        windowMs: 3600000,
        perPair: 10,
        perTarget: 50,
        perSource: 100,
        knownForMs: 2592000000,
        maxKnownSources: 5,
      },
    },
    verifyCodes: {
      backoff: {
        freeFailures: 3,
        baseDelayMs: 1000,
        maxDelayMs: 60000,
        forgetAfterMs: 900000,
        maxEntries: 100000,
      },
      limits: {
        windowMs: 3600000,
        perPair: 5,
        perTarget: 10,
        perSource: 20,
        knownForMs: 0,
        maxKnownSources: 0,
      },
    },
    osapCodes: {
      backoff: {
        freeFailures: 3,
        baseDelayMs: 1000,
        maxDelayMs: 60000,
        forgetAfterMs: 900000,
        maxEntries: 100000,
      },
      limits: {
        windowMs: 3600000,
        perPair: 5,
        perTarget: 10,
        perSource: 20,
        knownForMs: 2592000000,
        maxKnownSources: 5,
      },
    },
  },
  accountServer: {
    url: 'https://account.irsp.test:8443',
    listen: { host: '127.0.0.1', port: 8443 },
    database: { schema: 'account_server' },
    reconcileIntervalMs: 30000,
  },
  autonomousSystems: [
    {
      domain: 'as1.irsp.test',
      messageServers: [
        {
          id: 'ms1',
          url: 'https://ms1.as1.irsp.test:8543',
          listen: { host: '127.0.0.1', port: 8543 },
          pushUri: '/push',
          credentials: {
            accountServer: { appid: 'account-server-at-as1', token: 'secret-token-of-the-as-1' },
            toAccountServer: { appid: 'message-server-as1', token: 'fedcba9876543210' },
          },
        },
      ],
      applicationServers: [],
    },
  ],
};

const ENV = { AS1_ACCOUNT_SERVER_TOKEN: 'secret-token-of-the-as-1' };

type Doc = Record<string, unknown>;

function messageServer(id: string, appid: string, extra: Doc = {}): Doc {
  return {
    id,
    url: `https://${id}.irsp.test`,
    listen: { port: 0 },
    credentials: {
      accountServer: { appid: 'account-server', token: TOKEN },
      toAccountServer: { appid, token: TOKEN },
    },
    ...extra,
  };
}

function applicationServer(name: string, extra: Doc = {}): Doc {
  return {
    name,
    url: `https://${name}.irsp.test`,
    listen: { port: 0 },
    jid: `${name}.as1.irsp.test`,
    credentials: { appid: `app-${name}`, token: TOKEN },
    serviceUris: {},
    ...extra,
  };
}

function as(domain: string, ms: Doc[], apps: Doc[] = [], extra: Doc = {}): Doc {
  return { domain, messageServers: ms, applicationServers: apps, ...extra };
}

function document(ases: Doc[], extra: Doc = {}): Doc {
  return {
    accountServer: { url: 'https://account.irsp.test', listen: { port: 0 } },
    autonomousSystems: ases,
    ...extra,
  };
}

const ONE_AS = () => document([as('as1.irsp.test', [messageServer('ms1', 'ms-as1')])]);

describe('loadTopology', () => {
  it('loads a minimal YAML topology with every default filled and ${VAR} / ${VAR:-default} substituted', async () => {
    expect(await loadTopology(await topologyFile(MINIMAL_YAML), ENV)).toEqual(MINIMAL_EXPECTED);
  });

  it('accepts ports written as ${VAR} (strings after substitution) and fills serviceUris when omitted', async () => {
    const file = await topologyFile(`
accountServer: { url: 'https://account.irsp.test:8443', listen: { port: '\${ACCOUNT_PORT}' } }
autonomousSystems:
  - domain: as1.irsp.test
    messageServers:
      - id: ms1
        url: https://ms1.as1.irsp.test:8543
        listen: { port: 8543 }
        credentials:
          accountServer: { appid: a1, token: 0123456789abcdef }
          toAccountServer: { appid: m1, token: fedcba9876543210 }
    applicationServers:
      - { name: default, url: 'https://app.as1.irsp.test:8643', listen: { port: 8643 }, jid: default.as1.irsp.test, credentials: { appid: d1, token: 0123456789abcdef } }
`);
    const topology = await loadTopology(file, { ACCOUNT_PORT: '9443' });
    expect(topology.accountServer.listen).toEqual({ host: '127.0.0.1', port: 9443 });
    expect(topology.autonomousSystems[0]!.applicationServers[0]!.serviceUris).toEqual({
      userUpload: '/user/upload',
      deviceUpload: '/device/upload',
      deviceStatus: '/device/status',
      exchange: '/exchange',
    });
    await expect(loadTopology(file, { ACCOUNT_PORT: 'eighty' })).rejects.toThrow(
      /accountServer\.listen\.port/,
    );
  });

  it('reads the XMPP ports, the WebSocket one (RFC 7395) included, coerced like the others', async () => {
    const file = await topologyFile(`
accountServer: { url: 'https://account.irsp.test:8443', listen: { port: 8443 } }
autonomousSystems:
  - domain: as1.irsp.test
    messageServers:
      - id: ms1
        url: https://ms1.as1.irsp.test:8543
        listen: { port: 8543 }
        xmpp: { c2sPort: 5222, directTlsPort: 5223, websocketPort: '\${WS_PORT}' }
        credentials:
          accountServer: { appid: a1, token: 0123456789abcdef }
          toAccountServer: { appid: m1, token: fedcba9876543210 }
`);
    const topology = await loadTopology(file, { WS_PORT: '5280' });
    expect(topology.autonomousSystems[0]!.messageServers[0]!.xmpp).toEqual({
      host: '127.0.0.1',
      c2sPort: 5222,
      directTlsPort: 5223,
      websocketPort: 5280,
    });
    await expect(loadTopology(file, { WS_PORT: '70000' })).rejects.toThrow(/xmpp\.websocketPort/);
  });

  it('reads the plain c2s port for a TLS-terminating proxy, absent by default', async () => {
    const file = await topologyFile(`
accountServer: { url: 'https://account.irsp.test:8443', listen: { port: 8443 } }
autonomousSystems:
  - domain: as1.irsp.test
    messageServers:
      - id: ms1
        url: https://ms1.as1.irsp.test:8543
        listen: { port: 8543 }
        xmpp: { c2sPort: 5222, plainPort: '\${PLAIN_PORT}' }
        credentials:
          accountServer: { appid: a1, token: 0123456789abcdef }
          toAccountServer: { appid: m1, token: fedcba9876543210 }
`);
    expect(
      (await loadTopology(file, { PLAIN_PORT: '5322' })).autonomousSystems[0]!.messageServers[0]!.xmpp,
    ).toEqual({ host: '127.0.0.1', c2sPort: 5222, plainPort: 5322 });
    await expect(loadTopology(file, { PLAIN_PORT: 'x' })).rejects.toThrow(/xmpp\.plainPort/);
  });

  it('reads the connection cap and handshake timeout of the XMPP and HTTPS listeners, absent by default', async () => {
    const file = await topologyFile(`
accountServer: { url: 'https://account.irsp.test:8443', listen: { port: 8443 } }
autonomousSystems:
  - domain: as1.irsp.test
    messageServers:
      - id: ms1
        url: https://ms1.as1.irsp.test:8543
        listen: { port: 8543 }
        xmpp: { c2sPort: 5222, maxConnections: '\${MAX}', handshakeTimeoutMs: 5000 }
        credentials:
          accountServer: { appid: a1, token: 0123456789abcdef }
          toAccountServer: { appid: m1, token: fedcba9876543210 }
`);
    expect(
      (await loadTopology(file, { MAX: '15000' })).autonomousSystems[0]!.messageServers[0]!.xmpp,
    ).toEqual({ host: '127.0.0.1', c2sPort: 5222, maxConnections: 15_000, handshakeTimeoutMs: 5_000 });
    await expect(loadTopology(file, { MAX: '0' })).rejects.toThrow(/xmpp\.maxConnections/);
  });

  it('reads XEP-0198 stream management settings, absent by default, and refuses wrong or unknown ones', async () => {
    const file = (settings: string) =>
      topologyFile(`
accountServer: { url: 'https://account.irsp.test:8443', listen: { port: 8443 } }
autonomousSystems:
  - domain: as1.irsp.test
    messageServers:
      - id: ms1
        url: https://ms1.as1.irsp.test:8543
        listen: { port: 8543 }
        xmpp: { c2sPort: 5222, streamManagement: ${settings} }
        credentials:
          accountServer: { appid: a1, token: 0123456789abcdef }
          toAccountServer: { appid: m1, token: fedcba9876543210 }
`);
    const settings =
      '{ resumptionTimeoutMs: 60000, maxUnackedStanzas: 200, ackRequestStanzas: 5, ackRequestMs: 2000 }';
    expect((await loadTopology(await file(settings))).autonomousSystems[0]!.messageServers[0]!.xmpp).toEqual({
      host: '127.0.0.1',
      c2sPort: 5222,
      streamManagement: {
        resumptionTimeoutMs: 60_000,
        maxUnackedStanzas: 200,
        ackRequestStanzas: 5,
        ackRequestMs: 2_000,
      },
    });
    await expect(loadTopology(await file('{ maxUnackedStanzas: 0 }'))).rejects.toThrow(
      /xmpp\.streamManagement\.maxUnackedStanzas/,
    );
    await expect(loadTopology(await file('{ resumptionTimeoutMs: -1 }'))).rejects.toThrow(
      /xmpp\.streamManagement\.resumptionTimeoutMs/,
    );
    await expect(loadTopology(await file('{ resumeWindow: 5 }'))).rejects.toThrow(/resumeWindow/);
  });

  it('loads the same topology from JSON', async () => {
    const json = JSON.stringify({
      accountServer: { url: 'https://account.irsp.test:8443', listen: { port: 8443 } },
      autonomousSystems: [
        {
          domain: 'as1.irsp.test',
          messageServers: [
            {
              id: 'ms1',
              url: 'https://ms1.as1.irsp.test:8543',
              listen: { port: 8543 },
              credentials: {
                accountServer: { appid: 'account-server-at-as1', token: '${AS1_ACCOUNT_SERVER_TOKEN}' },
                toAccountServer: { appid: 'message-server-as1', token: 'fedcba9876543210' },
              },
            },
          ],
        },
      ],
    });
    expect(await loadTopology(await topologyFile(json, 'json'), ENV)).toEqual(MINIMAL_EXPECTED);
  });

  it('keeps explicit values instead of the defaults', async () => {
    const file = await topologyFile(`
tls: { mode: local, dir: /srv/tls }
database: { url: postgres://irsp@db/irsp, dataDir: /srv/data }
http: { method: GET, connectTimeoutMs: 100, requestTimeoutMs: 200 }
logLevel: debug
accountServer:
  url: https://account.irsp.test
  listen: { host: 0.0.0.0, port: 443 }
  database: { schema: accounts }
  reconcileIntervalMs: 1000
autonomousSystems:
  - domain: as1.irsp.test
    database: { schema: ms_one }
    messageServers:
      - id: ms1
        url: https://ms1.irsp.test
        listen: { port: 0 }
        pushUri: /irsp/push
        xmpp: { c2sPort: 5222, s2sPort: 5269 }
        credentials:
          accountServer: { appid: a, token: ${TOKEN} }
          toAccountServer: { appid: m, token: ${TOKEN} }
    applicationServers:
      - name: smart-lock
        url: https://lock.irsp.test
        listen: { port: 0 }
        jid: smartlock.as1.irsp.test
        credentials: { appid: lock, token: ${TOKEN} }
        deviceStatus: false
        serviceUris: { userUpload: /u, exchange: /x }
`);
    const topology = await loadTopology(file, {});
    expect(topology.tls).toEqual({ mode: 'local', dir: '/srv/tls' });
    expect(topology.database).toEqual({ url: 'postgres://irsp@db/irsp', dataDir: '/srv/data' });
    expect(topology.http).toEqual({ method: 'GET', connectTimeoutMs: 100, requestTimeoutMs: 200 });
    expect(topology.logLevel).toBe('debug');
    expect(topology.accountServer).toEqual({
      url: 'https://account.irsp.test',
      listen: { host: '0.0.0.0', port: 443 },
      database: { schema: 'accounts' },
      reconcileIntervalMs: 1000,
    });
    const [as1] = topology.autonomousSystems;
    expect(as1!.database).toEqual({ schema: 'ms_one' });
    expect(as1!.messageServers[0]!.pushUri).toBe('/irsp/push');
    expect(as1!.messageServers[0]!.xmpp).toEqual({ host: '127.0.0.1', c2sPort: 5222, s2sPort: 5269 });
    expect(as1!.applicationServers).toEqual([
      {
        name: 'smart-lock',
        url: 'https://lock.irsp.test',
        listen: { host: '127.0.0.1', port: 0 },
        jid: 'smartlock.as1.irsp.test',
        credentials: { appid: 'lock', token: TOKEN },
        deviceStatus: false,
        serviceUris: {
          userUpload: '/u',
          deviceUpload: '/device/upload',
          deviceStatus: '/device/status',
          exchange: '/x',
        },
      },
    ]);
  });

  it('an unset variable is a ConfigError naming the path and the variable', async () => {
    const file = await topologyFile(MINIMAL_YAML);
    expect(await configError(() => loadTopology(file, {}))).toBe(
      'autonomousSystems[0].messageServers[0].credentials.accountServer.token: environment variable AS1_ACCOUNT_SERVER_TOKEN is not set',
    );
  });

  it('a missing file, invalid YAML, an alias bomb and a non-mapping are ConfigErrors', async () => {
    const missing = join(dir, 'missing.yaml');
    expect(await configError(() => loadTopology(missing, {}))).toBe(
      `cannot read the IRSP topology ${missing}: ENOENT: no such file or directory, open '${missing}'`,
    );
    const bad = await topologyFile('a: [1, 2\nb: c');
    expect(await configError(() => loadTopology(bad, {}))).toMatch(
      new RegExp(`^${bad.replace(/[.]/g, '\\.')} is not valid YAML: Flow sequence in block collection`),
    );
    const laughs = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (const [prev, name] of ['ab', 'bc', 'cd', 'de', 'ef', 'fg', 'gh', 'hi'].map((s) => [s[0], s[1]])) {
      laughs.push(`${name}: &${name} [${Array.from({ length: 9 }, () => `*${prev}`).join(', ')}]`);
    }
    const bomb = await topologyFile(laughs.join('\n'));
    expect(await configError(() => loadTopology(bomb, {}))).toBe(
      `${bomb} is not valid YAML: Excessive alias count indicates a resource exhaustion attack`,
    );
    for (const text of ['', '- a\n- b\n', 'just a string\n', '42\n']) {
      const file = await topologyFile(text);
      expect(await configError(() => loadTopology(file, {}))).toBe('the topology must be a mapping');
    }
  });
});

describe('substituteEnv', () => {
  it('replaces ${VAR} and ${VAR:-default} in strings, nested in objects and arrays, and leaves other values', () => {
    expect(
      substituteEnv(
        { a: 'x-${A}-${B:-b}-${C:-}', list: ['${A}', 1, true, null], n: 5, deep: { s: '$A ${A}' } },
        { A: 'alpha' },
      ),
    ).toEqual({ a: 'x-alpha-b-', list: ['alpha', 1, true, null], n: 5, deep: { s: '$A alpha' } });
  });

  it('treats an empty variable as unset and does not substitute twice', () => {
    expect(substituteEnv('${A:-fallback}', { A: '' })).toBe('fallback');
    expect(substituteEnv('${A}', { A: '${B}', B: 'no' })).toBe('${B}');
    expect(substituteEnv('${A:-${B}}', {})).toBe('${B}');
  });

  it('names the path of an unset variable inside arrays', async () => {
    expect(await configError(() => substituteEnv({ list: [{ x: 'ok' }, { x: '${MISSING}' }] }, {}))).toBe(
      'list[1].x: environment variable MISSING is not set',
    );
    expect(await configError(() => substituteEnv('${MISSING}', { MISSING: '' }))).toBe(
      'config: environment variable MISSING is not set',
    );
  });
});

describe('environment overrides', () => {
  it('DATABASE_URL sets database.url', () => {
    expect(parseTopology(ONE_AS(), { DATABASE_URL: 'postgres://u@h/db' }).database).toEqual({
      url: 'postgres://u@h/db',
      dataDir: '.irsp/data',
    });
  });

  it('IRSP_DATA_DIR sets database.dataDir, keeping the url', () => {
    const doc = { ...ONE_AS(), database: { url: 'postgres://file' } };
    expect(parseTopology(doc, { IRSP_DATA_DIR: '/var/lib/irsp' }).database).toEqual({
      url: 'postgres://file',
      dataDir: '/var/lib/irsp',
    });
  });

  it('IRSP_TLS_DIR sets tls.dir, also when the file has no tls section', () => {
    expect(parseTopology(ONE_AS(), { IRSP_TLS_DIR: '/var/lib/irsp/tls' }).tls).toEqual({
      mode: 'local',
      dir: '/var/lib/irsp/tls',
    });
    const doc = { ...ONE_AS(), tls: { mode: 'local', dir: 'file-dir' } };
    expect(parseTopology(doc, { IRSP_TLS_DIR: '/env-dir' }).tls).toEqual({ mode: 'local', dir: '/env-dir' });
  });

  it('LOG_LEVEL sets logLevel and is validated', async () => {
    expect(parseTopology({ ...ONE_AS(), logLevel: 'warn' }, { LOG_LEVEL: 'trace' }).logLevel).toBe('trace');
    expect(await configError(() => parseTopology(ONE_AS(), { LOG_LEVEL: 'loud' }))).toBe(
      invalid(
        'logLevel: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"',
      ),
    );
  });

  it('empty variables do not override', () => {
    const doc = { ...ONE_AS(), database: { url: 'postgres://file' }, logLevel: 'warn' };
    const topology = parseTopology(doc, {
      DATABASE_URL: '',
      IRSP_DATA_DIR: '',
      IRSP_TLS_DIR: '',
      LOG_LEVEL: '',
    });
    expect(topology.database).toEqual({ url: 'postgres://file', dataDir: '.irsp/data' });
    expect(topology.tls).toEqual({ mode: 'local', dir: '.irsp/tls' });
    expect(topology.logLevel).toBe('warn');
  });

  it('applyEnvOverrides returns a new document and leaves its sections alone', () => {
    const doc = { database: { url: 'postgres://file' }, tls: { mode: 'local', dir: 'd' }, logLevel: 'warn' };
    const before = structuredClone(doc);
    expect(
      applyEnvOverrides(doc, {
        DATABASE_URL: 'postgres://env',
        IRSP_DATA_DIR: '/data',
        IRSP_TLS_DIR: '/t',
        LOG_LEVEL: 'debug',
      }),
    ).toEqual({
      database: { url: 'postgres://env', dataDir: '/data' },
      tls: { mode: 'local', dir: '/t' },
      logLevel: 'debug',
    });
    expect(doc).toEqual(before);
    expect(applyEnvOverrides(doc, {})).toEqual(before);
  });

  it('does not change the document it was given', () => {
    const doc = ONE_AS();
    const before = structuredClone(doc);
    parseTopology(doc, { DATABASE_URL: 'postgres://x', LOG_LEVEL: 'debug', IRSP_TLS_DIR: '/t' });
    expect(doc).toEqual(before);
  });
});

describe('validation', () => {
  it('an http URL is refused', async () => {
    const doc = document([as('as1.irsp.test', [messageServer('ms1', 'm', { url: 'http://ms1.irsp.test' })])]);
    expect(await configError(() => parseTopology(doc, {}))).toBe(
      invalid('autonomousSystems.0.messageServers.0.url: must be an https:// URL (RFC 2818)'),
    );
    const account = { ...ONE_AS(), accountServer: { url: 'http://account.irsp.test', listen: { port: 0 } } };
    expect(await configError(() => parseTopology(account, {}))).toBe(
      invalid('accountServer.url: must be an https:// URL (RFC 2818)'),
    );
  });

  it('a duplicate AS domain is refused', async () => {
    const doc = document([
      as('as1.irsp.test', [messageServer('ms1', 'ms-a')]),
      as('as1.irsp.test', [messageServer('ms1', 'ms-b')]),
    ]);
    expect(await configError(() => parseTopology(doc, {}))).toBe(
      invalid('autonomousSystems.1.domain: duplicate AS domain'),
    );
  });

  it('a duplicate message server id in one AS is refused, the same id in two ASs is fine', async () => {
    const doc = document([as('as1.irsp.test', [messageServer('ms1', 'm'), messageServer('ms1', 'm')])]);
    expect(await configError(() => parseTopology(doc, {}))).toBe(
      invalid('autonomousSystems.0.messageServers: duplicate message server id'),
    );
    const two = document([
      as('as1.irsp.test', [messageServer('ms1', 'ms-a')]),
      as('as2.irsp.test', [messageServer('ms1', 'ms-b')]),
    ]);
    expect(parseTopology(two, {}).autonomousSystems.map((a) => a.messageServers[0]!.id)).toEqual([
      'ms1',
      'ms1',
    ]);
  });

  it('a cluster needs the AS database on PostgreSQL, nats:// addresses and a secret of 32+ characters', async () => {
    const servers = [messageServer('ms1', 'ms-a'), messageServer('ms2', 'ms-b')];
    const cluster = { nats: ['nats://127.0.0.1:4222'], secret: 's'.repeat(32) };
    const database = { url: 'postgres://db.irsp.test/irsp', schema: 'ms_as1' };
    expect(
      parseTopology(document([as('as1.irsp.test', servers, [], { cluster, database })]), {})
        .autonomousSystems[0]!.cluster,
    ).toEqual(cluster);
    expect(
      await configError(() => parseTopology(document([as('as1.irsp.test', servers, [], { cluster })]), {})),
    ).toBe(
      invalid(
        'autonomousSystems.0.cluster: a cluster needs the AS database on PostgreSQL (database.url or DATABASE_URL): the embedded one is one process',
      ),
    );
    // DATABASE_URL (the whole topology's PostgreSQL, as docker-compose sets it) is the AS's database too.
    const shared = parseTopology(document([as('as1.irsp.test', servers, [], { cluster })]), {
      DATABASE_URL: 'postgres://db.irsp.test/irsp',
    });
    expect(shared.autonomousSystems[0]!.cluster).toEqual(cluster);
    const bad = { nats: ['http://127.0.0.1:4222'], secret: 'short' };
    expect(
      await configError(() =>
        parseTopology(document([as('as1.irsp.test', servers, [], { cluster: bad, database })]), {}),
      ),
    ).toBe(
      invalid(
        'autonomousSystems.0.cluster.nats.0: must be nats://host:port',
        'autonomousSystems.0.cluster.secret: secret must be at least 32 characters',
      ),
    );
  });

  it('the message servers of a cluster share one dialback secret, or all derive it from the cluster secret', async () => {
    const cluster = { nats: ['nats://127.0.0.1:4222'], secret: 's'.repeat(32) };
    const database = { url: 'postgres://db.irsp.test/irsp', schema: 'ms_as1' };
    const withSecret = (id: string, dialbackSecret?: string) =>
      messageServer(id, `ms-${id}`, {
        xmpp: { c2sPort: 5222, s2sPort: 5269, ...(dialbackSecret ? { dialbackSecret } : {}) },
      });
    const same = [withSecret('ms1', 'd'.repeat(16)), withSecret('ms2', 'd'.repeat(16))];
    expect(
      parseTopology(document([as('as1.irsp.test', same, [], { cluster, database })]), {})
        .autonomousSystems[0]!.messageServers.length,
    ).toBe(2);
    for (const servers of [
      [withSecret('ms1', 'd'.repeat(16)), withSecret('ms2', 'e'.repeat(16))],
      [withSecret('ms1', 'd'.repeat(16)), withSecret('ms2')],
    ])
      expect(
        await configError(() =>
          parseTopology(document([as('as1.irsp.test', servers, [], { cluster, database })]), {}),
        ),
      ).toBe(
        invalid(
          'autonomousSystems.0.messageServers: the message servers of a cluster must share xmpp.dialbackSecret (or all leave it out)',
        ),
      );
  });

  it('a duplicate application server name in one AS is refused', async () => {
    const doc = document([
      as('as1.irsp.test', [messageServer('ms1', 'm')], [applicationServer('a'), applicationServer('a')]),
    ]);
    expect(await configError(() => parseTopology(doc, {}))).toBe(
      invalid('autonomousSystems.0.applicationServers: duplicate application server name'),
    );
  });

  it('a token shorter than 16 characters is refused, 16 is accepted', async () => {
    const short = messageServer('ms1', 'm', {
      credentials: {
        accountServer: { appid: 'a', token: '0123456789abcde' },
        toAccountServer: { appid: 'm', token: TOKEN },
      },
    });
    expect(await configError(() => parseTopology(document([as('as1.irsp.test', [short])]), {}))).toBe(
      invalid(
        'autonomousSystems.0.messageServers.0.credentials.accountServer.token: token must be at least 16 characters',
      ),
    );
    expect(
      parseTopology(ONE_AS(), {}).autonomousSystems[0]!.messageServers[0]!.credentials.accountServer.token,
    ).toBe(TOKEN);
    const app = applicationServer('a', { credentials: { appid: 'app', token: 'short' } });
    expect(
      await configError(() =>
        parseTopology(document([as('as1.irsp.test', [messageServer('ms1', 'm')], [app])]), {}),
      ),
    ).toBe(
      invalid(
        'autonomousSystems.0.applicationServers.0.credentials.token: token must be at least 16 characters',
      ),
    );
  });

  it('the same toAccountServer appid in two ASs is refused; two message servers of one AS may share it', async () => {
    const doc = document([
      as('as1.irsp.test', [messageServer('ms1', 'message-server')]),
      as('as2.irsp.test', [messageServer('ms1', 'message-server')]),
    ]);
    expect(await configError(() => parseTopology(doc, {}))).toBe(
      invalid(
        'autonomousSystems.1.messageServers.0.credentials.toAccountServer.appid: appid message-server is also used by message servers of as1.irsp.test',
      ),
    );
    const shared = document([
      as('as1.irsp.test', [messageServer('ms1', 'shared'), messageServer('ms2', 'shared')]),
    ]);
    expect(parseTopology(shared, {}).autonomousSystems[0]!.messageServers.map((m) => m.id)).toEqual([
      'ms1',
      'ms2',
    ]);
  });

  it('tls.mode files needs the CA and certificate paths of every server', async () => {
    const files = { mode: 'files', ca: '/etc/irsp/ca.pem' };
    const doc = document([as('as1.irsp.test', [messageServer('ms1', 'm')], [applicationServer('app')])], {
      tls: files,
    });
    expect(await configError(() => parseTopology(doc, {}))).toBe(
      invalid(
        'accountServer.tls: tls.cert and tls.key are required when tls.mode is files',
        'autonomousSystems.0.messageServers.0.tls: tls.cert and tls.key are required when tls.mode is files',
        'autonomousSystems.0.applicationServers.0.tls: tls.cert and tls.key are required when tls.mode is files',
      ),
    );
    const cert = { cert: '/etc/irsp/x.pem', key: '/etc/irsp/x-key.pem' };
    const complete = document(
      [
        as(
          'as1.irsp.test',
          [messageServer('ms1', 'm', { tls: cert })],
          [applicationServer('app', { tls: cert })],
        ),
      ],
      { tls: files, accountServer: { url: 'https://account.irsp.test', listen: { port: 0 }, tls: cert } },
    );
    const topology = parseTopology(complete, {});
    expect(topology.tls).toEqual(files);
    expect(parseTopology(complete, { IRSP_TLS_DIR: '/ignored' }).tls).toEqual(files);
    expect(topology.accountServer.tls).toEqual(cert);
    expect(await configError(() => parseTopology(document([], { tls: { mode: 'files' } }), {}))).toMatch(
      /^invalid IRSP topology:\n {2}tls\.ca: /,
    );
  });

  it('guessing limits: a partial section keeps the other defaults; zero or negative counts are refused', async () => {
    const doc = document([as('as1.irsp.test', [messageServer('ms1', 'm')])], {
      guessing: { passwords: { limits: { perTarget: 20 } } },
    });
    const guessing = parseTopology(doc, {}).guessing;
    expect(guessing.passwords.limits).toEqual({
      windowMs: 3600000,
      perPair: 10,
      perTarget: 20,
      perSource: 100,
      knownForMs: 2592000000,
      maxKnownSources: 5,
    });
    expect(guessing.verifyCodes.limits.perTarget).toBe(10);
    const bad = document([as('as1.irsp.test', [messageServer('ms1', 'm')])], {
      guessing: { verifyCodes: { limits: { perPair: 0 } }, passwords: { backoff: { baseDelayMs: -1 } } },
    });
    expect(await configError(() => parseTopology(bad, {}))).toBe(
      invalid(
        'guessing.passwords.backoff.baseDelayMs: Too small: expected number to be >=0',
        'guessing.verifyCodes.limits.perPair: Too small: expected number to be >=1',
      ),
    );
  });

  it('lists every problem with its path', async () => {
    const doc = document([as('AS1', [messageServer('MS 1', 'm', { url: 'http://x', pushUri: 'push' })])]);
    doc.accountServer = { url: 'https://account.irsp.test', listen: { port: 70000 } };
    expect(await configError(() => parseTopology(doc, {}))).toBe(
      invalid(
        'accountServer.listen.port: Too big: expected number to be <=65535',
        'autonomousSystems.0.domain: lower-case DNS name',
        'autonomousSystems.0.messageServers.0.id: Invalid string: must match pattern /^[a-z0-9-]{1,32}$/',
        'autonomousSystems.0.messageServers.0.url: must be an https:// URL (RFC 2818)',
        'autonomousSystems.0.messageServers.0.pushUri: must be an absolute path',
      ),
    );
  });

  it('needs at least one AS, and one message server per AS', async () => {
    expect(await configError(() => parseTopology(document([]), {}))).toBe(
      invalid('autonomousSystems: Too small: expected array to have >=1 items'),
    );
    expect(await configError(() => parseTopology(document([as('as1.irsp.test', [])]), {}))).toBe(
      invalid('autonomousSystems.0.messageServers: Too small: expected array to have >=1 items'),
    );
  });
});

describe('selecting a service', () => {
  const two = () =>
    parseTopology(
      document([
        as(
          'as1.irsp.test',
          [messageServer('ms1', 'ms-a'), messageServer('ms2', 'ms-a')],
          [applicationServer('default'), applicationServer('smart-lock')],
        ),
        as('as2.irsp.test', [messageServer('ms1', 'ms-b')]),
      ]),
      {},
    );

  it('selectAs: the only AS, or IRSP_AS; several without IRSP_AS or an unknown one is an error', async () => {
    const one = parseTopology(ONE_AS(), {});
    expect(selectAs(one, {}).domain).toBe('as1.irsp.test');
    expect(selectAs(two(), { IRSP_AS: 'as2.irsp.test' }).domain).toBe('as2.irsp.test');
    expect(findAs(two(), 'as1.irsp.test').domain).toBe('as1.irsp.test');
    expect(await configError(() => selectAs(two(), {}))).toBe(
      'several ASs in the topology: set IRSP_AS to the domain of this service',
    );
    expect(await configError(() => selectAs(one, { IRSP_AS: 'as9.irsp.test' }))).toBe(
      'no AS as9.irsp.test in the topology',
    );
  });

  it('selectMessageServer: the first one, or IRSP_MESSAGE_SERVER', async () => {
    const t = two();
    const first = selectMessageServer(t, { IRSP_AS: 'as1.irsp.test' });
    expect(first.as).toBe(t.autonomousSystems[0]);
    expect(first.server).toBe(t.autonomousSystems[0]!.messageServers[0]);
    const second = selectMessageServer(t, { IRSP_AS: 'as1.irsp.test', IRSP_MESSAGE_SERVER: 'ms2' });
    expect(second.server).toBe(t.autonomousSystems[0]!.messageServers[1]);
    const as2 = selectMessageServer(t, { IRSP_AS: 'as2.irsp.test' });
    expect([as2.as.domain, as2.server.id, as2.server.url]).toEqual([
      'as2.irsp.test',
      'ms1',
      'https://ms1.irsp.test',
    ]);
    expect(await configError(() => selectMessageServer(t, {}))).toBe(
      'several ASs in the topology: set IRSP_AS to the domain of this service',
    );
    expect(
      await configError(() =>
        selectMessageServer(t, { IRSP_AS: 'as2.irsp.test', IRSP_MESSAGE_SERVER: 'ms2' }),
      ),
    ).toBe('no message server ms2 in AS as2.irsp.test');
  });

  it('selectApplicationServer: the first one, or IRSP_APPLICATION_SERVER', async () => {
    const t = two();
    expect(selectApplicationServer(t, { IRSP_AS: 'as1.irsp.test' }).server.name).toBe('default');
    const lock = selectApplicationServer(t, {
      IRSP_AS: 'as1.irsp.test',
      IRSP_APPLICATION_SERVER: 'smart-lock',
    });
    expect(lock.as).toBe(t.autonomousSystems[0]);
    expect(lock.server).toBe(t.autonomousSystems[0]!.applicationServers[1]);
    expect(
      await configError(() =>
        selectApplicationServer(t, { IRSP_AS: 'as1.irsp.test', IRSP_APPLICATION_SERVER: 'nope' }),
      ),
    ).toBe('no application server nope in AS as1.irsp.test');
    expect(await configError(() => selectApplicationServer(t, { IRSP_AS: 'as2.irsp.test' }))).toBe(
      'no application server (none configured) in AS as2.irsp.test',
    );
    expect(await configError(() => selectApplicationServer(t, {}))).toBe(
      'several ASs in the topology: set IRSP_AS to the domain of this service',
    );
  });
});

describe('listenOverride', () => {
  const listen = { host: '127.0.0.1', port: 8443 };

  it('keeps the configured address without PORT / IRSP_LISTEN_HOST', () => {
    expect(listenOverride(listen, {})).toEqual(listen);
  });

  it('PORT, IRSP_LISTEN_PORT and IRSP_LISTEN_HOST override it; PORT wins', () => {
    expect(listenOverride(listen, { PORT: '9000' })).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(listenOverride(listen, { IRSP_LISTEN_PORT: '9001' })).toEqual({ host: '127.0.0.1', port: 9001 });
    expect(listenOverride(listen, { PORT: '9000', IRSP_LISTEN_PORT: '9001' })).toEqual({
      host: '127.0.0.1',
      port: 9000,
    });
    expect(listenOverride(listen, { IRSP_LISTEN_HOST: '0.0.0.0', PORT: '0' })).toEqual({
      host: '0.0.0.0',
      port: 0,
    });
    expect(listenOverride(listen, { PORT: '65535' })).toEqual({ host: '127.0.0.1', port: 65535 });
  });

  it.each(['abc', '80a', '-1', '8.5', '', ' 80', '123456', '65536', '99999'])(
    'refuses PORT=%j',
    async (port) => {
      expect(await configError(() => listenOverride(listen, { PORT: port }))).toBe(
        `PORT ${port} is not a port number`,
      );
    },
  );
});

describe('databases', () => {
  it('databaseFor: the own url, else the topology url, else an embedded directory per schema', () => {
    const embedded = parseTopology(ONE_AS(), {});
    expect(databaseFor(embedded, { schema: 'account_server' })).toEqual({
      dataDir: '.irsp/data/account_server',
      schema: 'account_server',
    });
    expect(databaseFor(embedded, { url: 'postgres://own', schema: 'account_server' })).toEqual({
      url: 'postgres://own',
      schema: 'account_server',
    });
    const shared = parseTopology(ONE_AS(), { DATABASE_URL: 'postgres://shared', IRSP_DATA_DIR: '/data' });
    expect(databaseFor(shared, { schema: 'ms_as1' })).toEqual({ url: 'postgres://shared', schema: 'ms_as1' });
    expect(databaseFor(shared, { url: 'postgres://own', schema: 'ms_as1' })).toEqual({
      url: 'postgres://own',
      schema: 'ms_as1',
    });
    expect(
      databaseFor(parseTopology(ONE_AS(), { IRSP_DATA_DIR: '/data' }), { url: undefined, schema: 's' }),
    ).toEqual({
      dataDir: '/data/s',
      schema: 's',
    });
  });

  it("otherEmbeddedLayout: names pnpm start's database to a service started alone, and the reverse", async () => {
    const dataDir = join(dir, 'layouts');
    const t = parseTopology(ONE_AS(), { IRSP_DATA_DIR: dataDir });
    expect(otherEmbeddedLayout(t, 'alone')).toBeUndefined();
    await mkdir(join(dataDir, 'account_server'), { recursive: true });
    expect(otherEmbeddedLayout(t, 'alone')).toBeUndefined();
    expect(otherEmbeddedLayout(t, 'together')).toBe(
      `${join(dataDir, 'account_server')} is an embedded database of services started one by one; this uses ` +
        `${join(dataDir, 'irsp')}, so accounts made under one are not seen by the other. Set DATABASE_URL ` +
        '(PostgreSQL) for services that share one database.',
    );
    await mkdir(join(dataDir, 'irsp'));
    expect(otherEmbeddedLayout(t, 'alone')).toBe(
      `${join(dataDir, 'irsp')} is an embedded database of pnpm start; this uses ` +
        `${join(dataDir, '<schema>')} of each service, so accounts made under one are not seen by the other. ` +
        'Set DATABASE_URL (PostgreSQL) for services that share one database.',
    );
    const onPostgres = parseTopology(ONE_AS(), { IRSP_DATA_DIR: dataDir, DATABASE_URL: 'postgres://x' });
    expect([otherEmbeddedLayout(onPostgres, 'alone'), otherEmbeddedLayout(onPostgres, 'together')]).toEqual([
      undefined,
      undefined,
    ]);
  });

  it('messageServerSchemaName: the configured schema, else ms_ + the domain as an identifier of at most 63', () => {
    const t = parseTopology(
      document([
        as('as1.irsp.test', [messageServer('ms1', 'a')]),
        as('my-as.example', [messageServer('ms1', 'b')], [], { database: { schema: 'custom' } }),
        as(`${'a'.repeat(63)}.test`, [messageServer('ms1', 'c')]),
      ]),
      {},
    );
    const [as1, custom, long] = t.autonomousSystems;
    expect(messageServerSchemaName(as1!)).toBe('ms_as1_irsp_test');
    expect(messageServerSchemaName(custom!)).toBe('custom');
    expect(messageServerSchemaName(long!)).toBe(`ms_${'a'.repeat(60)}`);
    expect(messageServerSchemaName(long!)).toHaveLength(63);
  });

  it('applicationServerSchemaName: the configured schema, else app_ + domain + name', () => {
    const t = parseTopology(
      document([
        as(
          'as1.irsp.test',
          [messageServer('ms1', 'a')],
          [applicationServer('smart-lock'), applicationServer('own', { database: { schema: 'own_schema' } })],
        ),
      ]),
      {},
    );
    const [lock, own] = t.autonomousSystems[0]!.applicationServers;
    expect(applicationServerSchemaName(t.autonomousSystems[0]!, lock!)).toBe('app_as1_irsp_test_smart_lock');
    expect(applicationServerSchemaName(t.autonomousSystems[0]!, own!)).toBe('own_schema');
  });
});

describe('application servers of other ASs and third parties (clauses 8.6, 8.8)', () => {
  const KEY = 'k'.repeat(32);
  const peer = (extra: Doc = {}): Doc => ({
    name: 'default',
    as: 'as2.irsp.test',
    url: 'https://app.as2.irsp.test',
    appid: 'default-as2',
    key: '${AS1_AS2_KEY}',
    ...extra,
  });
  const thirdParty = (extra: Doc = {}): Doc => ({
    name: 'acme',
    appid: 'acme',
    key: KEY,
    webhookUrl: 'https://hooks.acme.test/irsp',
    allow: { addresses: ['127.0.0.1', '10.0.0.0/8', '::1/128'] },
    ...extra,
  });
  const withApp = (extra: Doc, apps: Doc[] = []) =>
    document([as('as1.irsp.test', [messageServer('ms1', 'm')], [applicationServer('a', extra), ...apps])]);
  const problem = async (extra: Doc, ...lines: string[]) =>
    expect(await configError(() => parseTopology(withApp(extra, [applicationServer('b')]), {}))).toBe(
      invalid(...lines.map((l) => `autonomousSystems.0.applicationServers.0.${l}`)),
    );

  it('reads peers with their key from ${ENV} and fills the defaults; no peers or gateway by default', () => {
    const t = parseTopology(withApp({ peers: [peer()] }), { AS1_AS2_KEY: KEY });
    const app = t.autonomousSystems[0]!.applicationServers[0]!;
    expect(app.peers).toEqual([
      {
        name: 'default',
        as: 'as2.irsp.test',
        url: 'https://app.as2.irsp.test',
        exchangeUri: '/peer/exchange',
        appid: 'default-as2',
        key: KEY,
        push: false,
      },
    ]);
    expect(app.serviceUris.peerExchange).toBeUndefined();
    expect(app.gateway).toBeUndefined();
    const plain = parseTopology(withApp({}), {}).autonomousSystems[0]!.applicationServers[0]!;
    expect([plain.peers, plain.gateway]).toEqual([undefined, undefined]);
  });

  it('refuses a peer of its own AS, a short key, an http URL and duplicates', async () => {
    await problem(
      { peers: [peer({ as: 'as1.irsp.test', key: 'short', url: 'http://x.test' })] },
      'peers.0.url: must be an https:// URL (RFC 2818)',
      'peers.0.key: key must be at least 32 characters',
      'peers.0.as: a peer is of another AS (application servers of the same AS need no entry)',
    );
    await problem(
      { peers: [peer({ as: 'as1.irsp.test', key: KEY })] },
      'peers.0.as: a peer is of another AS (application servers of the same AS need no entry)',
    );
    await problem(
      { peers: [peer({ key: KEY }), peer({ key: KEY })] },
      'peers: duplicate peer name in one AS',
      'peers: duplicate peer appid',
    );
    expect(
      parseTopology(
        withApp({ peers: [peer({ key: KEY }), peer({ key: KEY, as: 'as3.irsp.test', appid: 'd3' })] }),
        {},
      ).autonomousSystems[0]!.applicationServers[0]!.peers!.length,
    ).toBe(2);
  });

  it('an unset key variable is a ConfigError naming the path', async () => {
    expect(await configError(() => parseTopology(withApp({ peers: [peer()] }), {}))).toBe(
      'autonomousSystems[0].applicationServers[0].peers[0].key: environment variable AS1_AS2_KEY is not set',
    );
  });

  it('the peer exchange URI must differ from the other service URIs', async () => {
    await problem(
      { serviceUris: { peerExchange: '/exchange' } },
      'serviceUris.peerExchange: must differ from the other service URIs',
    );
  });

  it('reads a gateway with its third parties and fills the defaults', () => {
    const t = parseTopology(withApp({ gateway: { thirdParties: [thirdParty()] } }), {});
    expect(t.autonomousSystems[0]!.applicationServers[0]!.gateway).toEqual({
      thirdParties: [
        {
          name: 'acme',
          appid: 'acme',
          key: KEY,
          webhookUrl: 'https://hooks.acme.test/irsp',
          allow: { addresses: ['127.0.0.1', '10.0.0.0/8', '::1/128'], messages: [], targets: [] },
          forward: [],
        },
      ],
    });
  });

  it('refuses bad addresses, messages a third party cannot send or receive, unknown targets and duplicates', async () => {
    await problem(
      {
        gateway: {
          thirdParties: [
            thirdParty({
              allow: { addresses: ['10.0.0.0/33', 'example.com', '::1/129', '1.2.3.4/8/9'], messages: [8] },
              forward: [12],
            }),
          ],
        },
      },
      'gateway.thirdParties.0.allow.addresses.0: must be an IP address or CIDR',
      'gateway.thirdParties.0.allow.addresses.1: must be an IP address or CIDR',
      'gateway.thirdParties.0.allow.addresses.2: must be an IP address or CIDR',
      'gateway.thirdParties.0.allow.addresses.3: must be an IP address or CIDR',
      'gateway.thirdParties.0.allow.messages.0: Invalid input',
      'gateway.thirdParties.0.forward.0: Invalid input',
    );
    await problem(
      { gateway: { thirdParties: [thirdParty({ allow: { addresses: [], targets: ['a'] } })] } },
      'gateway.thirdParties.0.allow.addresses: Too small: expected array to have >=1 items',
      'gateway.thirdParties.0.allow.targets.0: must name another application server of the AS',
    );
    await problem(
      {
        gateway: { thirdParties: [thirdParty({ allow: { addresses: ['::1'], targets: ['a', 'b', 'c'] } })] },
      },
      'gateway.thirdParties.0.allow.targets.0: must name another application server of the AS',
      'gateway.thirdParties.0.allow.targets.2: must name another application server of the AS',
    );
    await problem(
      { gateway: { thirdParties: [thirdParty(), thirdParty()] } },
      'gateway.thirdParties: duplicate third party name',
      'gateway.thirdParties: duplicate third party appid',
    );
    await problem(
      { gateway: { thirdParties: [] } },
      'gateway.thirdParties: Too small: expected array to have >=1 items',
    );
  });
});

describe('the applications of an application server', () => {
  const withApps = (extra: Record<string, unknown>) =>
    document([as('as1.irsp.test', [messageServer('ms1', 'm')], [applicationServer('a', extra)])]);
  const problem = async (extra: Record<string, unknown>, ...lines: string[]) =>
    expect(await configError(() => parseTopology(withApps(extra), {}))).toBe(
      invalid(...lines.map((l) => `autonomousSystems.0.applicationServers.0.${l}`)),
    );
  const gatewaySection = {
    thirdParties: [
      {
        name: 'acme',
        appid: 'acme',
        key: 'k'.repeat(32),
        webhookUrl: 'https://hooks.acme.test/irsp',
        allow: { addresses: ['127.0.0.1'] },
      },
    ],
  };

  it('runs the recorder by default, and the gateway too when it is configured', () => {
    const plain = parseTopology(withApps({}), {}).autonomousSystems[0]!.applicationServers[0]!;
    expect(applicationsOf(plain)).toEqual(['recorder']);
    const withGateway = parseTopology(withApps({ gateway: gatewaySection }), {}).autonomousSystems[0]!
      .applicationServers[0]!;
    expect(applicationsOf(withGateway)).toEqual(['recorder', 'gateway']);
    const named = parseTopology(withApps({ applications: ['smartlock', 'recorder'] }), {})
      .autonomousSystems[0]!.applicationServers[0]!;
    expect(applicationsOf(named)).toEqual(['smartlock', 'recorder']);
  });

  it('refuses a name that is not an identifier, one named twice, and a gateway without its section or left out', async () => {
    await problem(
      { applications: ['Smart-Lock'] },
      'applications.0: Invalid string: must match pattern /^[a-z][a-z0-9_]{0,31}$/',
    );
    await problem({ applications: ['recorder', 'recorder'] }, 'applications: an application is named twice');
    await problem(
      { applications: ['gateway'] },
      'gateway: the gateway application needs a gateway section (its third parties)',
    );
    await problem(
      { applications: ['recorder'], gateway: gatewaySection },
      'applications: the gateway is configured but not among the applications',
    );
    await problem({ applications: [] }, 'applications: Too small: expected array to have >=1 items');
  });

  describe('the smart-lock application and its TPSPs (clause 6.6 through the gateway, 8.8)', () => {
    const servers = (smartlock: Record<string, unknown>, gateway: Record<string, unknown>) =>
      document([
        as(
          'as1.irsp.test',
          [messageServer('ms1', 'm')],
          [applicationServer('locks', smartlock), applicationServer('gw', gateway)],
        ),
      ]);
    const lines = (...found: [number, string][]) =>
      invalid(...found.map(([i, line]) => `autonomousSystems.0.applicationServers.${i}.${line}`));
    const toLocks = {
      thirdParties: [
        { ...gatewaySection.thirdParties[0]!, allow: { addresses: ['::1'], targets: ['locks'] } },
      ],
    };

    it('reads the gateway that carries the TPSPs', () => {
      const t = parseTopology(
        servers({ applications: ['smartlock'], smartlock: { gateway: 'gw' } }, { gateway: toLocks }),
        {},
      );
      expect(t.autonomousSystems[0]!.applicationServers[0]!.smartlock).toEqual({ gateway: 'gw' });
    });

    it('refuses a server that does not run the smart lock, a gateway that is not one, or whose third parties may not call it', async () => {
      expect(
        await configError(() =>
          parseTopology(servers({ smartlock: { gateway: 'gw' } }, { gateway: toLocks }), {}),
        ),
      ).toBe(lines([0, 'smartlock: the smartlock section needs the smartlock application']));
      expect(
        await configError(() =>
          parseTopology(servers({ applications: ['smartlock'], smartlock: { gateway: 'gw' } }, {}), {}),
        ),
      ).toBe(
        lines([0, 'smartlock.gateway: must name another application server of the AS that runs the gateway']),
      );
      expect(
        await configError(() =>
          parseTopology(
            servers({ applications: ['smartlock'], smartlock: { gateway: 'locks' } }, { gateway: toLocks }),
            {},
          ),
        ),
      ).toBe(
        lines([0, 'smartlock.gateway: must name another application server of the AS that runs the gateway']),
      );
      expect(
        await configError(() =>
          parseTopology(
            servers(
              { applications: ['smartlock'], smartlock: { gateway: 'gw' } },
              {
                gateway: {
                  thirdParties: [{ ...gatewaySection.thirdParties[0]!, allow: { addresses: ['::1'] } }],
                },
              },
            ),
            {},
          ),
        ),
      ).toBe(
        lines([0, 'smartlock.gateway: none of its third parties may exchange with this application server']),
      );
    });
  });
});

describe('federation routes (clause 8.5)', () => {
  it("s2sRoutes: the other ASs at their message servers' URL host and s2sPort, overridden by federation.routes", async () => {
    const xmpp = (s2sPort?: number) => ({ xmpp: { c2sPort: 5222, ...(s2sPort ? { s2sPort } : {}) } });
    const t = parseTopology(
      document(
        [
          as('as1.irsp.test', [messageServer('ms1', 'ms-a', xmpp(5269))]),
          as('as2.irsp.test', [
            messageServer('ms1', 'ms-b', xmpp(5369)),
            messageServer('ms2', 'ms-b', xmpp(5370)),
          ]),
          as('as3.irsp.test', [messageServer('ms1', 'ms-c', xmpp())]),
        ],
        { federation: { routes: { 'partner.example': [{ host: '192.0.2.7', port: '5269' }] } } },
      ),
      {},
    );
    expect(s2sRoutes(t, 'as1.irsp.test')).toEqual({
      'as2.irsp.test': [
        { host: 'ms1.irsp.test', port: 5369 },
        { host: 'ms2.irsp.test', port: 5370 },
      ],
      'partner.example': [{ host: '192.0.2.7', port: 5269 }],
    });
    expect(s2sRoutes(t, 'as2.irsp.test')).toEqual({
      'as1.irsp.test': [{ host: 'ms1.irsp.test', port: 5269 }],
      'partner.example': [{ host: '192.0.2.7', port: 5269 }],
    });
    expect(
      await configError(() =>
        parseTopology(
          document([as('as1.irsp.test', [messageServer('ms1', 'a')])], {
            federation: { routes: { Bad_Domain: [] } },
          }),
          {},
        ),
      ),
    ).toBe('invalid IRSP topology:\n  federation.routes.Bad_Domain: Invalid key in record');
  });
});
