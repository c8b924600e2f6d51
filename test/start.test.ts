/**
 * README command 1 (`pnpm start` → services/all-in-one/dist/main.js): a whole IRSP from nothing — topology with
 * fresh credentials, local CA, embedded databases — and a manifest a client can use with nothing else.
 * It uses the default ports (8443, 8543–8544, 8643–8646, XMPP 5222–5223, 5269, 5280, 5322–5323, 5369 and 5380): they must be
 * free.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialDeviceState, shareKey } from '@irsp/osap';
import { form, tempDir, TestClient } from './support/irsp.js';
import { authenticateAt, dasConnect } from './support/osap.js';
import { trustCaForXmppClients, xmppLogin } from './support/xmpp.js';

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const main = fileURLToPath(new URL('../services/all-in-one/dist/main.js', import.meta.url));
const cliMain = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));

interface Manifest {
  caCert: string;
  accountServer: { url: string; consoleUrl: string };
  autonomousSystems: {
    domain: string;
    messageServers: {
      url: string;
      pushUri: string;
      xmpp?: {
        host: string;
        c2sPort: number;
        directTlsPort?: number;
        websocketPort?: number;
        s2sPort?: number;
        websocketUrl?: string;
      };
      osap?: {
        lbs: { host: string; port: number };
        protocol: { type: number; group: (1 | 2 | 4 | 8 | 16 | 32 | 64 | 128)[] };
        shareKeyIterations: number;
        das: { host: string; port: number }[];
        dasListener?: { host: string; port: number };
      };
      credentials: Record<string, { appid: string; token: string }>;
    }[];
    applicationServers: {
      name: string;
      url: string;
      jid: string;
      credentials: { appid: string; token: string };
      serviceUris: Record<string, string>;
    }[];
  }[];
}

let dir: Awaited<ReturnType<typeof tempDir>>;
let child: ChildProcess;
let output = '';
let exit: Promise<number | null>;

async function waitForFile(path: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await stat(path);
      return;
    } catch {
      if (Date.now() > until) throw new Error(`${path} did not appear; output:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

beforeAll(async () => {
  dir = await tempDir('irsp-start-');
  const env: Record<string, string | undefined> = { ...process.env, LOG_LEVEL: 'warn' };
  delete env.IRSP_CONFIG;
  delete env.DATABASE_URL;
  child = spawn(process.execPath, [main], { cwd: dir.path, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  await waitForFile(join(dir.path, '.irsp/manifest.json'), 60_000);
}, 90_000);

afterAll(async () => {
  if (child.exitCode === null) {
    child.kill('SIGINT');
    await exit;
  }
  await dir?.remove();
});

describe('pnpm start', () => {
  it('writes a manifest with every endpoint and credential, relative CA path, on the default ports', async () => {
    const manifest = JSON.parse(await readFile(join(dir.path, '.irsp/manifest.json'), 'utf8')) as Manifest;
    expect(manifest.caCert).toBe('.irsp/tls/ca.pem');
    expect(manifest.accountServer.url).toBe('https://127.0.0.1:8443');
    expect(manifest.accountServer.consoleUrl).toBe('https://127.0.0.1:8443/console');
    expect(manifest.autonomousSystems.map((as) => as.domain)).toEqual(['as1.irsp.test', 'as2.irsp.test']);
    expect(manifest.autonomousSystems.map((as) => as.messageServers[0]!.url)).toEqual([
      'https://127.0.0.1:8543',
      'https://127.0.0.1:8544',
    ]);
    expect(manifest.autonomousSystems[0]!.applicationServers[0]).toMatchObject({
      name: 'default',
      url: 'https://127.0.0.1:8643',
      jid: 'default.as1.irsp.test',
      serviceUris: {
        userUpload: '/user/upload',
        deviceUpload: '/device/upload',
        deviceStatus: '/device/status',
        exchange: '/exchange',
      },
    });
    const credentials = manifest.autonomousSystems[0]!.messageServers[0]!.credentials;
    expect(credentials.accountServer!.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(credentials.toAccountServer!.token).not.toBe(credentials.accountServer!.token);
    expect(((await stat(join(dir.path, '.irsp/manifest.json'))).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(join(dir.path, '.irsp/irsp.yaml'))).mode & 0o777).toString(8)).toBe('600');
    expect(output).toContain('IRSP running');
    expect(output).toContain(
      "  operator console    https://127.0.0.1:8443/console (log in as the manifest's operator)",
    );
    // Every listener of every message server, with the ports the README tells users to log in on.
    for (const [domain, ms, c2s, tls, ws, s2s] of [
      ['as1.irsp.test', 8543, 5222, 5223, 5280, 5269],
      ['as2.irsp.test', 8544, 5322, 5323, 5380, 5369],
    ] as const) {
      expect(output).toContain(
        [
          `  AS ${domain}`,
          `    message server ms1       https://127.0.0.1:${ms}`,
          `      XMPP c2s STARTTLS    127.0.0.1:${c2s}`,
          `      XMPP c2s TLS         127.0.0.1:${tls}`,
          `      XMPP over WebSocket  wss://127.0.0.1:${ws}/xmpp-websocket`,
          `      XMPP s2s             port ${s2s}`,
        ].join('\n'),
      );
    }
    expect(output).toContain(
      [
        '      XMPP s2s             port 5269',
        '      OSAP LBS (TLS)       127.0.0.1:8990',
        '      OSAP DAS (MQTT, TLS) 127.0.0.1:8883',
        '      a simulated OSAP device: pnpm osap:device --serial cam1 --code cam1-code --register --event hello',
        '',
      ].join('\n'),
    );
    expect(manifest.autonomousSystems.map((as) => as.messageServers[0]!.osap)).toEqual([
      {
        lbs: { host: '127.0.0.1', port: 8990 },
        protocol: { type: 1, group: [1, 2, 4, 8] },
        shareKeyIterations: 100_000,
        das: [{ host: '127.0.0.1', port: 8883 }],
        dasListener: { host: '127.0.0.1', port: 8883 },
      },
      undefined,
    ]);
  });

  it('authenticates an OSAP device registered at the account server at the LBS of AS1, as the manifest says', async () => {
    const manifest = JSON.parse(await readFile(join(dir.path, '.irsp/manifest.json'), 'utf8')) as Manifest;
    const ca = await readFile(join(dir.path, manifest.caCert), 'utf8');
    const client = new TestClient(ca);
    try {
      const answer = await client.post(
        `${manifest.accountServer.url}/device/register`,
        form({ deviceid: '#cam1@as1.irsp.test', password: 'cam pw', verifycode: 'cam1-code' }),
      );
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: '' });
    } finally {
      await client.close();
    }
    const osap = manifest.autonomousSystems[0]!.messageServers[0]!.osap!;
    const device = {
      serialNumber: 'cam1',
      shareKey: shareKey('cam1-code', 'cam1', { iterations: osap.shareKeyIterations }),
      supports: [{ protocolType: osap.protocol.type, protocolGroup: osap.protocol.group }],
    };
    const [connection, ...more] = await authenticateAt({ ...osap.lbs, ca }, initialDeviceState(device));
    expect(more).toEqual([]);
    expect(connection!.atClose).toMatchObject({ phase: 'ready', das: { host: '127.0.0.1', port: 8883 } });
    // …and registers with the DAS the LBS named, which the message server of AS1 runs (decision 0022).
    const ready = connection!.atClose;
    if (ready.phase !== 'ready') throw new Error(ready.phase);
    const das = await dasConnect(
      { ...ready.das, ca },
      { devId: ready.device.devId!, sessionKey: ready.sessionKey, counter: 1 },
    );
    expect(das.code).toBe(0);
    if ('client' in das) await das.client.endAsync();
  });

  it('serves a client that has only the manifest: register at the account server, reach each server over HTTPS', async () => {
    const manifest = JSON.parse(await readFile(join(dir.path, '.irsp/manifest.json'), 'utf8')) as Manifest;
    const client = new TestClient(await readFile(join(dir.path, manifest.caCert), 'utf8'));
    try {
      const answer = await client.post(
        `${manifest.accountServer.url}/user/register.xml`,
        form({ userid: 'alice@as2.irsp.test', password: 'pw' }),
      );
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: '' });
      // …and log in over XMPP at the message server of AS2, as the manifest says.
      const xmpp = manifest.autonomousSystems[1]!.messageServers[0]!.xmpp!;
      expect(xmpp).toEqual({
        host: '127.0.0.1',
        c2sPort: 5322,
        directTlsPort: 5323,
        websocketPort: 5380,
        s2sPort: 5369,
        websocketUrl: 'wss://127.0.0.1:5380/xmpp-websocket',
      });
      const untrust = trustCaForXmppClients(await readFile(join(dir.path, manifest.caCert), 'utf8'));
      try {
        const alice = await xmppLogin({
          port: xmpp.c2sPort,
          domain: 'as2.irsp.test',
          username: 'alice',
          password: 'pw',
          resource: 'test',
        });
        expect(alice.jid?.toString()).toBe('alice@as2.irsp.test/test');
        await alice.stop();
        // XMPP over WebSocket (RFC 7395) answers at the manifest's URL.
        const ws = new WebSocket(xmpp.websocketUrl!, 'xmpp');
        const opened = await new Promise<string>((resolve, reject) => {
          ws.onopen = () => ws.send(`<open xmlns='${FRAMING}' to='as2.irsp.test' version='1.0'/>`);
          ws.onmessage = (event) => resolve(String(event.data));
          ws.onerror = () => reject(new Error('WebSocket failed'));
        });
        ws.close();
        expect(opened).toMatch(
          new RegExp(
            `^<open xmlns='${FRAMING}' id='[0-9a-f]{24}' from='as2.irsp.test' version='1.0' xml:lang='en'/>$`,
          ),
        );
      } finally {
        untrust();
      }
      for (const as of manifest.autonomousSystems) {
        for (const url of [
          ...as.messageServers.map((m) => m.url),
          ...as.applicationServers.map((a) => a.url),
        ]) {
          expect((await client.get(`${url}/readyz`)).status).toBe(200);
        }
      }
    } finally {
      await client.close();
    }
  });

  it('runs Message 14 in an AS and across ASs with the README’s POST /send, as the manifest’s operator', async () => {
    const manifest = JSON.parse(await readFile(join(dir.path, '.irsp/manifest.json'), 'utf8')) as Manifest;
    const [as1, as2] = manifest.autonomousSystems;
    const server = (as: typeof as1, name: string) => as!.applicationServers.find((a) => a.name === name)!;
    expect(as1!.applicationServers.map((a) => [a.name, a.url, a.jid])).toEqual([
      ['default', 'https://127.0.0.1:8643', 'default.as1.irsp.test'],
      ['smartlock', 'https://127.0.0.1:8645', 'smartlock.as1.irsp.test'],
    ]);
    expect(server(as2, 'smartlock').url).toBe('https://127.0.0.1:8646');
    expect(output).toContain(
      'application server smartlock https://127.0.0.1:8645  (smartlock.as1.irsp.test)',
    );
    const client = new TestClient(await readFile(join(dir.path, manifest.caCert), 'utf8'));
    const basic = (app: { credentials: { appid: string; token: string } }) =>
      `Basic ${Buffer.from(`${app.credentials.appid}:${app.credentials.token}`).toString('base64')}`;
    const operator = async (
      app: Manifest['autonomousSystems'][number]['applicationServers'][number],
      path: string,
      body?: object,
    ) => {
      const r = await request(`${app.url}${path}`, {
        method: body ? 'POST' : 'GET',
        dispatcher: client.agent,
        headers: { authorization: basic(app), ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: r.statusCode, body: await r.body.text() };
    };
    try {
      // The README's two calls: AS1's default to AS1's smartlock, then to AS2's default (signed, clause 8.6).
      const sent = { status: 200, body: '{"outcome":"status","status":200}' };
      const inAs = { message: 14, id: 'alice', data: 'door open?', to: 'smartlock' };
      expect(await operator(server(as1, 'default'), '/send', inAs)).toEqual(sent);
      const acrossAs = { message: 14, id: 'bob', data: 'hello AS2', to: 'default', as: 'as2.irsp.test' };
      expect(await operator(server(as1, 'default'), '/send', acrossAs)).toEqual(sent);
      const params = async (app: Parameters<typeof operator>[0]) =>
        (
          JSON.parse((await operator(app, '/received')).body) as {
            received: { message: number; params: object }[];
          }
        ).received.map((r) => [r.message, r.params]);
      // The smart-lock application takes the exchange (200) and, having no use for it, keeps nothing.
      expect((await operator(server(as1, 'smartlock'), '/received')).status).toBe(404);
      expect(await params(server(as2, 'default'))).toEqual([
        [14, { userid: 'bob', data: 'hello AS2', as: 'as1.irsp.test' }],
      ]);
    } finally {
      await client.close();
    }
  });

  it('creates an operator (hash in the topology, password in the manifest) and `irsp` works from the folder', async () => {
    const manifest = JSON.parse(await readFile(join(dir.path, '.irsp/manifest.json'), 'utf8')) as {
      operator: { name: string; password: string };
    };
    expect(manifest.operator.name).toBe('admin');
    expect(manifest.operator.password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const yaml = await readFile(join(dir.path, '.irsp/irsp.yaml'), 'utf8');
    expect(yaml).not.toContain(manifest.operator.password);
    expect(yaml).toMatch(/operators:\n {2}- name: admin\n {4}passwordHash: scram-sha-256\$4096\$/);
    expect(((await stat(join(dir.path, '.irsp/operator.json'))).mode & 0o777).toString(8)).toBe('600');
    // The README's commands, with the manifest found where `pnpm start` wrote it.
    const irsp = (...args: string[]) =>
      new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const cli = spawn(process.execPath, [cliMain, ...args], {
          cwd: dir.path,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        cli.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
        cli.on('exit', (code) => resolve({ code, stdout }));
      });
    const status = await irsp('status', '--json');
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as { services: unknown[] }).services).toHaveLength(7);
    expect(await irsp('exchange', 'default', 'smartlock', 'alice@as1.irsp.test', 'from the README')).toEqual({
      code: 0,
      stdout:
        'Message 14 from default@as1.irsp.test to smartlock@as1.irsp.test about alice@as1.irsp.test: delivered (200)\n',
    });
    const across = await irsp('exchange', 'default', 'default@as2.irsp.test', 'bob@as1.irsp.test', 'across');
    expect(across.code).toBe(0);
    const tail = await irsp('tail', 'default@as2.irsp.test', '--once');
    expect(tail.code).toBe(0);
    expect(tail.stdout).toMatch(
      /Message 14 \(exchangeUserAcrossAs\) {2}as=as1\.irsp\.test data=across userid=bob\n$/,
    );
  });

  it('runs the smart-lock simulator: a gateway with two locks in AS1, its codes printed and kept', async () => {
    await expect
      .poll(
        () =>
          /Smart-lock simulator: gateway #bgw-demo@as1\.irsp\.test \(verification code \d{9}\)/.test(output),
        {
          timeout: 30_000,
        },
      )
      .toBe(true);
    expect(output.match(/^ {2}lock [0-9a-f]{16} {2}activation code [0-9A-F]{16}$/gm)).toHaveLength(2);
    const state = JSON.parse(await readFile(join(dir.path, '.irsp/smartlock-sim.json'), 'utf8')) as {
      gateways: Record<string, { verifycode: string; locks: { lockId: string }[] }>;
    };
    expect(Object.keys(state.gateways)).toEqual(['#bgw-demo@as1.irsp.test']);
    expect(output).toContain(`verification code ${state.gateways['#bgw-demo@as1.irsp.test']!.verifycode}`);
  });

  it('serves the operator console at https://127.0.0.1:8443/console', async () => {
    const manifest = JSON.parse(await readFile(join(dir.path, '.irsp/manifest.json'), 'utf8')) as Manifest;
    const client = new TestClient(await readFile(join(dir.path, manifest.caCert), 'utf8'));
    try {
      const page = await client.get(manifest.accountServer.consoleUrl);
      expect({ status: page.status, type: page.headers['content-type'] }).toEqual({
        status: 200,
        type: 'text/html; charset=utf-8',
      });
      expect(page.body).toContain('<title>IRSP operator console</title>');
    } finally {
      await client.close();
    }
  });

  it('serves the RAC at https://127.0.0.1:8645/ with its config, the account server allowing its origin', async () => {
    const manifest = JSON.parse(await readFile(join(dir.path, '.irsp/manifest.json'), 'utf8')) as Manifest;
    const client = new TestClient(await readFile(join(dir.path, manifest.caCert), 'utf8'));
    try {
      const page = await client.get('https://127.0.0.1:8645/');
      expect({ status: page.status, type: page.headers['content-type'] }).toEqual({
        status: 200,
        type: 'text/html; charset=utf-8',
      });
      expect(page.body).toContain('<title>Smart lock</title>');
      const config = await client.get('https://127.0.0.1:8645/config.json');
      expect(JSON.parse(config.body)).toEqual({
        domain: 'as1.irsp.test',
        accountServer: 'https://127.0.0.1:8443',
        websocket: 'wss://127.0.0.1:5280/xmpp-websocket',
        ras: 'smartlock.as1.irsp.test',
      });
      const preflight = await request('https://127.0.0.1:8443/user/register.xml', {
        method: 'OPTIONS',
        dispatcher: client.agent,
        headers: {
          origin: 'https://127.0.0.1:8645',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
      await preflight.body.text();
      expect({
        status: preflight.statusCode,
        origin: preflight.headers['access-control-allow-origin'],
      }).toEqual({ status: 204, origin: 'https://127.0.0.1:8645' });
    } finally {
      await client.close();
    }
  });

  it('stops cleanly on Ctrl-C (SIGINT) and keeps its state for the next start', async () => {
    child.kill('SIGINT');
    expect(await exit).toBe(0);
    const second = spawn(process.execPath, [main], {
      cwd: dir.path,
      env: { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let secondOutput = '';
    second.stderr!.on('data', (d: Buffer) => (secondOutput += d.toString()));
    const secondExit = new Promise<number | null>((resolve) => second.on('exit', (code) => resolve(code)));
    await expect.poll(() => secondOutput, { timeout: 60_000 }).toContain('IRSP running');
    const manifest = JSON.parse(await readFile(join(dir.path, '.irsp/manifest.json'), 'utf8')) as Manifest;
    const client = new TestClient(await readFile(join(dir.path, manifest.caCert), 'utf8'));
    try {
      const again = await client.post(
        `${manifest.accountServer.url}/user/register.xml`,
        form({ userid: 'alice@as1.irsp.test', password: 'pw' }),
      );
      expect({ status: again.status, body: again.body }).toEqual({
        status: 421,
        body: '<error><code>421</code><detail>id existed</detail></error>',
      });
    } finally {
      await client.close();
      second.kill('SIGINT');
      expect(await secondExit).toBe(0);
    }
  }, 90_000);
});
