#!/usr/bin/env node
/**
 * `pnpm osap:device`: a simulated OSAP device on a running IRSP, through the whole flow — the LBS (negotiation,
 * first authentication, DevID, session key, a DAS address), the DAS (CONNECT, heartbeats), events — until Ctrl-C,
 * which deregisters it (DISCONNECT). It reports its attributes, and answers every operation (a related account's,
 * an application server's Message 13) with `--answer`, logging it. Its device account `#<serial>` must exist with that
 * verification code (`--register` registers it at the account server first).
 *
 *   --serial <s>        serial number: the device account is `#<s>` of the AS (lower case)
 *   --code <c>          its verification code
 *   --manifest <path>   the IRSP's manifest (default .irsp/manifest.json)
 *   --as <domain>       the AS (default: the first whose message server runs an LBS)
 *   --register          register `#<s>@<as>` at the account server first (a random password)
 *   --event <text>      an event to send once connected (repeatable)
 *   --attribute <n=v>   an attribute to report once connected (repeatable)
 *   --answer <text>     the result it answers every operation with (default "ok")
 *   --every <s>         send the last event again every s seconds
 *   --heartbeat <s>     the heartbeat interval indicated in CONNECT (default 30)
 *   --seconds <s>       disconnect and stop after s seconds (default: run until Ctrl-C)
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { runMain, type Logger } from '@irsp/http';
import { protocolGroupSchema, protocolTypeSchema } from '@irsp/osap';
import { OsapDevice } from './device.js';

const endpoint = z.object({ host: z.string(), port: z.number().int() });
const manifestSchema = z.object({
  caCert: z.string(),
  accountServer: z.object({ url: z.string().url() }),
  autonomousSystems: z.array(
    z.object({
      domain: z.string(),
      messageServers: z.array(
        z.object({
          osap: z
            .object({
              lbs: endpoint,
              protocol: z.object({ type: protocolTypeSchema, group: protocolGroupSchema }),
              shareKeyIterations: z.number().int(),
            })
            .optional(),
        }),
      ),
    }),
  ),
});

const seconds = z.coerce.number().positive().max(86_400);
const argsSchema = z.object({
  serial: z.string().min(1),
  code: z.string().min(1),
  manifest: z.string(),
  as: z.string().optional(),
  register: z.boolean().optional(),
  event: z.array(z.string().min(1)).optional(),
  attribute: z
    .array(z.string().regex(/^[A-Za-z0-9._-]{1,64}=/, 'name=value'))
    .optional()
    .transform((pairs) =>
      Object.fromEntries((pairs ?? []).map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)])),
    ),
  answer: z.string(),
  every: seconds.optional(),
  heartbeat: z.coerce.number().int().min(1).max(65_535),
  seconds: seconds.optional(),
});

const { values } = parseArgs({
  options: {
    serial: { type: 'string' },
    code: { type: 'string' },
    manifest: { type: 'string', default: '.irsp/manifest.json' },
    as: { type: 'string' },
    register: { type: 'boolean' },
    event: { type: 'string', multiple: true },
    attribute: { type: 'string', multiple: true },
    answer: { type: 'string', default: 'ok' },
    every: { type: 'string' },
    heartbeat: { type: 'string', default: '30' },
    seconds: { type: 'string' },
  },
});

/** Message 2 through the account server's client API, as a device maker would register the device. */
function register(url: string, ca: string, fields: Record<string, string>): Promise<void> {
  const body = new URLSearchParams(fields).toString();
  return new Promise((resolveRequest, reject) => {
    const req = request(
      `${url}/device/register`,
      { method: 'POST', ca, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () =>
          res.statusCode === 200
            ? resolveRequest()
            : reject(new Error(`registration refused: ${res.statusCode} ${text}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function start(logger: Logger) {
  const args = argsSchema.parse(values);
  const manifestPath = resolve(args.manifest);
  const manifest = manifestSchema.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
  const as = manifest.autonomousSystems.find(
    (a) => (args.as === undefined || a.domain === args.as) && a.messageServers.some((m) => m.osap),
  );
  const osap = as?.messageServers.find((m) => m.osap)?.osap;
  if (!as || !osap)
    throw new Error(`no AS${args.as ? ` ${args.as}` : ''} with an OSAP LBS in ${manifestPath}`);
  const ca = await readFile(resolve(manifest.caCert), 'utf8');
  if (args.register) {
    await register(manifest.accountServer.url, ca, {
      deviceid: `#${args.serial}@${as.domain}`,
      password: randomBytes(12).toString('base64url'),
      verifycode: args.code,
    });
    logger.info({ device: `#${args.serial}@${as.domain}` }, 'registered');
  }
  const device = new OsapDevice({
    serialNumber: args.serial,
    verificationCode: args.code,
    lbs: osap.lbs,
    ca,
    supports: [{ protocolType: osap.protocol.type, protocolGroup: osap.protocol.group }],
    shareKeyIterations: osap.shareKeyIterations,
    heartbeatSeconds: args.heartbeat,
    onOperation: (operation) => {
      logger.info({ operation: operation.data, from: operation.from }, 'operation received, answered');
      return args.answer;
    },
    onRefused: (reason) => logger.warn({ reason }, 'a payload from the DAS refused'),
  });
  const session = await device.authenticate();
  logger.info({ devId: session.devId, das: session.das }, 'authenticated at the LBS');
  await device.connect();
  logger.info({ das: session.das, heartbeatSeconds: args.heartbeat }, 'online at the DAS');
  if (Object.keys(args.attribute).length > 0) {
    await device.attributes(args.attribute);
    logger.info({ attributes: args.attribute }, 'attributes reported');
  }
  for (const text of args.event ?? []) {
    await device.event(text);
    logger.info({ event: text }, 'event sent');
  }
  const last = args.event?.at(-1);
  const repeat =
    last !== undefined && args.every !== undefined
      ? setInterval(() => {
          device.event(last).then(
            () => logger.info({ event: last }, 'event sent'),
            (error: unknown) => logger.error({ err: error }, 'event not sent'),
          );
        }, args.every * 1000)
      : undefined;
  let stop: NodeJS.Timeout | undefined;
  let stopping = false;
  const running = {
    async close() {
      stopping = true;
      clearInterval(repeat);
      clearTimeout(stop);
      await device.disconnect();
      logger.info('disconnected');
    },
  };
  if (args.seconds !== undefined)
    stop = setTimeout(() => {
      void running.close().then(() => process.exit(process.exitCode ?? 0));
    }, args.seconds * 1000);
  // A DAS that ends the connection (refusal, lost heartbeats, shutdown) ends the simulator with an error.
  void device.closed().then(() => {
    if (stopping) return;
    logger.error('the DAS closed the connection');
    void running.close().then(() => process.exit(1));
  });
  return running;
}

runMain('osap-device', start);
