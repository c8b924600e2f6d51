/**
 * docker-compose.yml and its topology, checked without a Docker engine: the topology is valid for the same
 * loader the services use, and every service of the topology has a container with its entry, port and health check.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadTopology, s2sRoutes } from '@irsp/config';

const root = new URL('../', import.meta.url);
const TOPOLOGY = new URL('deploy/compose/irsp.yaml', root).pathname;
/** What an operator puts in .env: every secret the compose topology reads. */
const SECRETS = Object.fromEntries(
  ['AS1', 'AS2'].flatMap((as) =>
    [
      'ACCOUNT_SERVER_TOKEN',
      'MESSAGE_SERVER_TOKEN',
      'DEFAULT_APP_TOKEN',
      'DIALBACK_SECRET',
      'CLUSTER_SECRET',
    ].map((name) => [`${as}_${name}`, `${as}-${name}-0123456789abcdef0123456789abcdef`.toLowerCase()]),
  ),
);

interface ComposeService {
  build?: { target?: string };
  environment?: Record<string, string>;
  ports?: string[];
  healthcheck?: { test: string[] };
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  image?: string;
}

describe('docker-compose', () => {
  it('runs every server of deploy/compose/irsp.yaml as its own container with a health check', async () => {
    // As the containers get it: the secrets and DATABASE_URL (a cluster's AS must be on PostgreSQL).
    const topology = await loadTopology(TOPOLOGY, {
      ...SECRETS,
      DATABASE_URL: 'postgres://irsp:secret@postgres:5432/irsp',
    });
    const compose = parse(await readFile(new URL('docker-compose.yml', root), 'utf8'), { merge: true }) as {
      services: Record<string, ComposeService>;
    };
    const expected: [string, string, Record<string, string>][] = [
      ['account-server', 'account-server', { PORT: String(topology.accountServer.listen.port) }],
      ...topology.autonomousSystems.flatMap((as, i): [string, string, Record<string, string>][] => [
        ...as.messageServers.map((ms): [string, string, Record<string, string>] => [
          `message-server-as${i + 1}-${ms.id}`,
          'message-server',
          { IRSP_AS: as.domain, IRSP_MESSAGE_SERVER: ms.id, PORT: String(ms.listen.port) },
        ]),
        [
          `application-server-as${i + 1}`,
          'application-server',
          {
            IRSP_AS: as.domain,
            IRSP_APPLICATION_SERVER: as.applicationServers[0]!.name,
            PORT: String(as.applicationServers[0]!.listen.port),
          },
        ],
      ]),
    ];
    expect(Object.keys(compose.services).sort()).toEqual(
      ['nats', 'postgres', ...expected.map(([name]) => name)].sort(),
    );
    for (const [name, target, env] of expected) {
      const service = compose.services[name]!;
      expect(service.build?.target, name).toBe(target);
      expect(service.environment, name).toMatchObject({ ...env, IRSP_CONFIG: '/etc/irsp/irsp.yaml' });
      expect(service.environment?.DATABASE_URL, name).toMatch(/^postgres:\/\/irsp:.*@postgres:5432\/irsp$/);
      expect(service.healthcheck?.test.join(' '), name).toContain('/readyz');
      expect(service.volumes, name).toContain('./deploy/compose/irsp.yaml:/etc/irsp/irsp.yaml:ro');
      expect(service.ports?.[0]?.endsWith(`:${env.PORT}`), name).toBe(true);
      // The URL other containers use names the container, so the local CA puts that name in its certificate.
      const url = name === 'account-server' ? topology.accountServer.url : undefined;
      if (url) expect(new URL(url).hostname).toBe(name);
    }
    const hostPorts = new Set<string>();
    for (const as of topology.autonomousSystems) {
      const i = topology.autonomousSystems.indexOf(as) + 1;
      expect(new URL(as.applicationServers[0]!.url).hostname).toBe(`application-server-as${i}`);
      // Two message servers per AS on one NATS (the compose file shows a cluster, docs/scaling.md).
      expect(as.messageServers.map((ms) => ms.id)).toEqual(['ms1', 'ms2']);
      expect(as.cluster?.nats).toEqual(['nats://nats:4222']);
      const routes: { host: string; port: number }[] = [];
      for (const ms of as.messageServers) {
        const name = `message-server-as${i}-${ms.id}`;
        const service = compose.services[name]!;
        expect(new URL(ms.url).hostname).toBe(name);
        expect(service.depends_on, name).toEqual({
          postgres: { condition: 'service_healthy' },
          nats: { condition: 'service_healthy' },
        });
        // Every XMPP listener is published, each on its own host port.
        const xmpp = ms.xmpp!;
        const published = service.ports!.map((p) => Number(p.split(':')[1]));
        expect(published.sort()).toEqual(
          [ms.listen.port, xmpp.c2sPort, xmpp.directTlsPort, xmpp.websocketPort, xmpp.s2sPort].sort(),
        );
        for (const p of service.ports!) {
          expect(hostPorts.has(p.split(':')[0]!), `${name} ${p}`).toBe(false);
          hostPorts.add(p.split(':')[0]!);
        }
        expect(xmpp.dialbackSecret).toBe(SECRETS[`AS${i}_DIALBACK_SECRET`]);
        routes.push({ host: name, port: xmpp.s2sPort! });
      }
      // The other AS finds this one over s2s at either of its containers, in order (clause 8.5).
      const other = topology.autonomousSystems.find((a) => a !== as)!;
      expect(s2sRoutes(topology, other.domain)[as.domain]).toEqual(routes);
    }
    expect(compose.services.nats!.image).toMatch(/^nats:2\./);
    expect(compose.services.nats!.healthcheck?.test.join(' ')).toContain('/healthz');
  });

  it('passes every secret the topology reads into the containers, and .env.example names them all', async () => {
    const text = await readFile(new URL('deploy/compose/irsp.yaml', root), 'utf8');
    const read = [...new Set([...text.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!))].sort();
    expect(read.length).toBeGreaterThan(0);
    const compose = parse(await readFile(new URL('docker-compose.yml', root), 'utf8'), { merge: true }) as {
      services: Record<string, ComposeService>;
    };
    for (const [name, service] of Object.entries(compose.services)) {
      if (name === 'postgres' || name === 'nats') continue;
      for (const variable of read)
        expect(service.environment?.[variable], `${name} ${variable}`).toBe(
          `\${${variable}:?set ${variable} in .env (see .env.example)}`,
        );
    }
    const example = await readFile(new URL('.env.example', root), 'utf8');
    const named = [...example.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]!).sort();
    expect(named).toEqual([...read, 'POSTGRES_PASSWORD'].sort());
  });

  it('refuses to start without its secrets: no default stands in for one', async () => {
    await expect(loadTopology(TOPOLOGY, {})).rejects.toThrow(/environment variable AS1_[A-Z_]+ is not set/);
    await expect(loadTopology(TOPOLOGY, { ...SECRETS, AS2_DEFAULT_APP_TOKEN: '' })).rejects.toThrow(
      'autonomousSystems[1].applicationServers[0].credentials.token: environment variable AS2_DEFAULT_APP_TOKEN is not set',
    );
    const compose = await readFile(new URL('docker-compose.yml', root), 'utf8');
    expect(compose).not.toMatch(/change-me|:-\}|POSTGRES_PASSWORD:-/);
    expect(await readFile(TOPOLOGY, 'utf8')).not.toMatch(/change-me|:-/);
  });

  it('has a Dockerfile target for each service image', async () => {
    const dockerfile = await readFile(new URL('Dockerfile', root), 'utf8');
    for (const target of ['account-server', 'message-server', 'application-server', 'all-in-one']) {
      expect(dockerfile).toMatch(
        new RegExp(`^FROM runtime AS ${target}\\nCMD \\["node", "services/${target}/dist/main.js"\\]`, 'm'),
      );
    }
  });
});
