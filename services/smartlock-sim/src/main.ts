#!/usr/bin/env node
/**
 * `pnpm smartlock:sim`: a Bluetooth gateway with simulated locks, joined to a running IRSP as a device maker and an
 * operator would: the gateway's device account is registered at the account server (with its verification code),
 * the locks' factory records are imported into the smart-lock application, and the gateway logs in over XMPP. What
 * it made (passwords, codes, keys, what each lock remembers) is kept next to the manifest in `smartlock-sim.json`,
 * so that a restart is the same gateway with the same locks.
 *
 *   --manifest <path>   the IRSP's manifest (default .irsp/manifest.json)
 *   --as <domain>       the AS (default: the first)
 *   --server <name>     the smart-lock application server (default smartlock)
 *   --gateway <id>      the gateway's device ID (default #bgw-demo)
 *   --locks <n>         how many locks it hosts (default 2)
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { runMain } from '@irsp/http';
import { LockDevice, lockIdSchema, type LockDeviceState } from '@irsp/smartlock';
import { BluetoothGateway } from './bluetooth-gateway.js';

const manifestSchema = z.object({
  caCert: z.string(),
  accountServer: z.object({ url: z.string().url() }),
  autonomousSystems: z.array(
    z.object({
      domain: z.string(),
      messageServers: z.array(
        z.object({ xmpp: z.object({ host: z.string(), c2sPort: z.number() }).optional() }),
      ),
      applicationServers: z.array(
        z.object({
          name: z.string(),
          url: z.string().url(),
          jid: z.string(),
          credentials: z.object({ appid: z.string(), token: z.string() }),
        }),
      ),
    }),
  ),
});

const lockSchema = z.object({
  lockId: lockIdSchema,
  activationCode: z.string(),
  key: z.string(),
  state: z.custom<LockDeviceState>().optional(),
});
const stateSchema = z.object({
  gateways: z.record(
    z.string(),
    z.object({ password: z.string(), verifycode: z.string(), locks: z.array(lockSchema) }),
  ),
});
type SimState = z.infer<typeof stateSchema>;

const { values: args } = parseArgs({
  options: {
    manifest: { type: 'string', default: '.irsp/manifest.json' },
    as: { type: 'string' },
    server: { type: 'string', default: 'smartlock' },
    gateway: { type: 'string', default: '#bgw-demo' },
    locks: { type: 'string', default: '2' },
  },
});

const manifestPath = resolve(args.manifest);
const manifest = manifestSchema.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
// The manifest's paths are relative to where the IRSP runs, as `pnpm start` wrote them.
const caPath = resolve(manifest.caCert);

// @xmpp/client's TLS takes no CA of its own: the IRSP's CA is trusted for the whole process, set at its start.
if (process.env.NODE_EXTRA_CA_CERTS !== caPath) {
  const child = spawn(process.execPath, process.argv.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caPath },
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  runMain('smartlock-sim', async (logger) => {
    const as = args.as
      ? manifest.autonomousSystems.find((a) => a.domain === args.as)
      : manifest.autonomousSystems[0];
    if (!as) throw new Error(`no AS ${args.as} in ${manifestPath}`);
    const ras = as.applicationServers.find((a) => a.name === args.server);
    if (!ras) throw new Error(`no application server ${args.server} in ${as.domain}`);
    const xmpp = as.messageServers.find((ms) => ms.xmpp)?.xmpp;
    if (!xmpp) throw new Error(`no message server of ${as.domain} serves XMPP`);
    const ca = await readFile(caPath, 'utf8');
    const statePath = join(dirname(manifestPath), 'smartlock-sim.json');
    const state = await loadState(statePath);
    const deviceid = args.gateway!;
    const gatewayState = (state.gateways[`${deviceid}@${as.domain}`] ??= {
      password: randomBytes(12).toString('base64url'),
      verifycode: String(randomInt(100_000_000, 999_999_999)),
      locks: Array.from({ length: Number(args.locks) }, () => ({
        lockId: randomBytes(8).toString('hex'),
        activationCode: randomBytes(8).toString('hex').toUpperCase(),
        key: randomBytes(16).toString('hex'),
      })),
    });
    await saveState(statePath, state);

    const registered = await post(
      ca,
      `${manifest.accountServer.url}/device/register`,
      form({
        deviceid: `${deviceid}@${as.domain}`,
        password: gatewayState.password,
        verifycode: gatewayState.verifycode,
      }),
      { 'content-type': 'application/x-www-form-urlencoded' },
    );
    // 421: registered by an earlier run.
    if (registered !== 200 && registered !== 421)
      throw new Error(`gateway not registered: HTTP ${registered}`);
    const basic = Buffer.from(`${ras.credentials.appid}:${ras.credentials.token}`).toString('base64');
    const imported = await post(
      ca,
      `${ras.url}/smartlock/factory-records`,
      JSON.stringify({
        records: gatewayState.locks.map((l) => ({
          lockId: l.lockId,
          model: 'Simulated BSLD',
          firmware: '1.0.0',
          activationCode: l.activationCode,
          keyId: 1,
          key: l.key,
        })),
      }),
      { 'content-type': 'application/json', authorization: `Basic ${basic}` },
    );
    if (imported !== 200) throw new Error(`lock factory records not imported: HTTP ${imported}`);

    const locks = gatewayState.locks.map(
      (l) => new LockDevice(l.lockId, Buffer.from(l.key, 'hex'), l.state ? { ...l.state } : {}),
    );
    const gateway = new BluetoothGateway({
      service: `xmpp://${xmpp.host}:${xmpp.c2sPort}`,
      domain: as.domain,
      deviceid,
      password: gatewayState.password,
      ras: ras.jid,
      locks,
      logger,
      // What each lock remembers survives a restart, as a lock's flash does.
      changed: () => {
        gatewayState.locks.forEach((l, i) => (l.state = locks[i]!.state));
        void saveState(statePath, state).catch((error: unknown) =>
          logger.error({ err: error }, 'simulator state not saved'),
        );
      },
    });
    await gateway.start();
    process.stderr.write(
      [
        '',
        `Smart-lock simulator: gateway ${deviceid}@${as.domain} (verification code ${gatewayState.verifycode})`,
        ...gatewayState.locks.map((l) => `  lock ${l.lockId}  activation code ${l.activationCode}`),
        `  talking to ${ras.jid}; state in ${statePath}`,
        '',
      ].join('\n'),
    );
    return { close: () => gateway.stop() };
  });
}

async function loadState(path: string): Promise<SimState> {
  try {
    return stateSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  } catch {
    return { gateways: {} };
  }
}

async function saveState(path: string, state: SimState): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

/** POSTs `body`; resolves with the HTTP status. */
function post(ca: string, url: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolvePost, reject) => {
    const req = request(url, { method: 'POST', ca, headers }, (res) => {
      res.resume();
      res.on('end', () => resolvePost(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}
