/**
 * 9. Unlock round trip (ours only; issue 13): the smart-lock application (RAS) runs in the IRSP's process beside the
 * message server. Users (RACs) and gateways (BGWs, each hosting locks that run the lock's own checks, LockDevice)
 * are XMPP clients of the load generator. Every operation is a user's `lockControl` sent to the RAS (Message 8), its
 * sealed frame to the gateway (Message 13), the lock's answer back (Message 9) and the `commandResult` pushed to the
 * user (Message 12): latency from the user's send to that push, at a fixed rate, and the server's CPU per operation
 * (message server, RAS and, on PostgreSQL, the database backends). Locks are registered through the RAS first
 * (lockAuthenticate + lockRegister each), as an owner would.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import {
  LockDevice,
  buildFromGateway,
  buildRequest,
  parseToGateway,
  type Operation,
  type RequestBody,
} from '@irsp/smartlock';
import type { XmppClient } from '../load/client.js';
import { LatencyRecorder, round } from '../load/latency.js';
import { inParallel, relate } from '../load/session.js';
import { attribute, bodyText, escapeXml, unescapeXml } from '../load/splitter.js';
import { sleep } from '../servers/system.js';
import { STARTTLS, asIrsp, names, online, startWindow, windowMetrics, type Scenario } from './context.js';

const ACTIVATION = 'BENCHLOCK1';

type Json = Record<string, unknown>;

export const unlockScenario: Scenario = {
  name: 'unlock',
  supports: (server) =>
    server === 'irsp' ? true : 'the smart-lock application of ISO/IEC 14543-5-104 is ours: the IRSP only',
  variants: () => [{ ...STARTTLS, smartlock: true }],
  async run(ctx) {
    const irsp = asIrsp(ctx.server);
    const ras = irsp.smartlock;
    if (!ras) throw new Error('launched without the smart-lock application server');
    const gateways = ctx.quick ? 2 : 10;
    const locksPerGateway = ctx.quick ? 20 : 100;
    const rate = ctx.quick ? 20 : 100;
    const seconds = ctx.quick ? 10 : 30;
    const users = names('ulu', gateways);
    const gatewayNames = names('ulg', gateways);
    await irsp.createAccounts(users, 'user');
    await irsp.createAccounts(gatewayNames, 'device');

    // Locks and their factory records (the operator's import).
    const keys = new Map<string, Buffer>();
    const locks = gatewayNames.map(() =>
      Array.from({ length: locksPerGateway }, () => {
        const key = randomBytes(16);
        const lock = new LockDevice(randomBytes(8).toString('hex'), key);
        keys.set(lock.lockId, key);
        return lock;
      }),
    );
    await importFactoryRecords(ctx.ca, ras, locks.flat(), keys);

    // Each user owns one gateway (bound by approval: the first user bound is the owner, 14543-5-8 §9).
    const userClients = await inParallel(users, 10, (name) => online(ctx, name, 'rac'));
    const gatewayClients = await inParallel(gatewayNames, 10, (name) =>
      online(ctx, irsp.deviceLocalpart(name), 'bgw'),
    );
    await relate(userClients.map((u, i) => [u, gatewayClients[i]!] as const));
    gatewayClients.forEach((gateway, i) => serveLocks(gateway, ras.jid, locks[i]!));
    for (const [i, gateway] of gatewayClients.entries())
      toRas(gateway, ras.jid, buildFromGateway({ type: 'hello', owner: users[i]! }));

    // Users: responses by request id, command results as latencies.
    const waiting = new Map<string, (response: Json) => void>();
    const sentAt = new Map<string, number>();
    const latency = new LatencyRecorder();
    let completed = 0;
    let failed = 0;
    let allDone: () => void = () => undefined;
    let expected = Number.POSITIVE_INFINITY;
    for (const client of userClients) {
      client.onStanza = (name, xml) => {
        if (name !== 'message' || attribute(xml, 'from') !== ras.jid) return;
        const message = JSON.parse(unescapeXml(bodyText(xml) ?? '{}')) as Json;
        if (message.event === 'commandResult') {
          const at = sentAt.get(message.requestId as string);
          if (at === undefined) return;
          latency.record(performance.now() - at);
          if (message.status === 1000) completed += 1;
          else failed += 1;
          if (completed + failed === expected) allDone();
          return;
        }
        if (typeof message.id === 'string') waiting.get(message.id)?.(message);
      };
    }
    let next = 0;
    const ask = <O extends Operation>(client: XmppClient, operation: O, body: RequestBody<O>) =>
      new Promise<Json>((resolve) => {
        const id = `u${++next}`;
        waiting.set(id, (response) => {
          waiting.delete(id);
          resolve(response);
        });
        toRas(client, ras.jid, buildRequest({ id, operation, timestamp: now(), body }));
      });
    const expectOk = async (what: Promise<Json>, step: string) => {
      const answer = await what;
      if (answer.status !== 1000) throw new Error(`${step}: status ${String(answer.status)}`);
    };

    // Setup, as owners do it: join, confirm the PIN, register every lock of their gateway.
    await inParallel(userClients, gateways, async (client, i) => {
      await expectOk(
        ask(client, 'userRegister', { displayName: `User ${i}`, pin: '246810' }),
        'userRegister',
      );
      await expectOk(ask(client, 'userAuthenticate', { pin: '246810' }), 'userAuthenticate');
      for (const lock of locks[i]!) {
        const at = { gatewayId: irsp.deviceLocalpart(gatewayNames[i]!), lockId: lock.lockId };
        await expectOk(
          ask(client, 'lockAuthenticate', { ...at, activationCode: ACTIVATION }),
          'lockAuthenticate',
        );
        await expectOk(ask(client, 'lockRegister', { ...at, name: 'Door' }), 'lockRegister');
      }
    });

    // Measured: `rate` operations per second for `seconds`, spread over every lock, unlock and lock in turn.
    const total = rate * seconds;
    expected = total;
    const done = new Promise<void>((resolve) => (allDone = resolve));
    const stop = startWindow(ctx, 'unlock');
    const started = performance.now();
    for (let k = 0; k < total; k++) {
      const wait = started + (k * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      const u = k % gateways;
      const lock = locks[u]![Math.floor(k / gateways) % locksPerGateway]!;
      const id = `c${k}`;
      sentAt.set(id, performance.now());
      toRas(
        userClients[u]!,
        ras.jid,
        buildRequest({
          id,
          operation: 'lockControl',
          timestamp: now(),
          body: {
            lockId: lock.lockId,
            action: lock.bolt === 'locked' ? 'unlock' : 'lock',
            deadline: now(30),
          },
        }),
      );
    }
    await Promise.race([done, sleep(30_000)]);
    const w = stop();
    for (const client of [...userClients, ...gatewayClients]) client.destroy();
    if (completed + failed < total)
      ctx.notes.push(`unlock: ${total - completed - failed} of ${total} got no result`);
    const lat = latency.summary();
    return {
      locks: gateways * locksPerGateway,
      operations: total,
      targetPerSecond: rate,
      completed,
      failed,
      p50Ms: lat.p50Ms,
      p99Ms: lat.p99Ms,
      serverCpuMsPerOperation: completed > 0 ? round((w.serverCpuSeconds * 1000) / completed, 3) : null,
      ...windowMetrics(w),
    };
  },
};

/** A gateway of the load generator: the RAS's frames go to its locks, their answers back. */
function serveLocks(gateway: XmppClient, rasJid: string, locks: readonly LockDevice[]): void {
  const byId = new Map(locks.map((l) => [l.lockId, l]));
  gateway.onStanza = (name, xml) => {
    if (name !== 'message' || attribute(xml, 'from') !== rasJid) return;
    const parsed = parseToGateway(unescapeXml(bodyText(xml) ?? ''));
    if (!parsed.ok || parsed.value.type !== 'frame') return;
    const { requestId, lockId, frame } = parsed.value;
    const answer = byId.get(lockId)?.handle(Buffer.from(frame, 'base64'));
    if (!answer) return;
    toRas(
      gateway,
      rasJid,
      buildFromGateway({ type: 'frame', requestId, lockId, frame: answer.toString('base64') }),
    );
  };
}

function toRas(client: XmppClient, rasJid: string, data: string): void {
  client.write(`<message to='${rasJid}'><body>${escapeXml(data)}</body></message>`);
}

const now = (plusSeconds = 0) =>
  new Date(Date.now() + plusSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The operator's import of the locks' factory records (HTTP Basic with the RAS's own credentials). */
async function importFactoryRecords(
  ca: string,
  ras: { url: string; credentials: { appid: string; token: string } },
  locks: readonly LockDevice[],
  keys: ReadonlyMap<string, Buffer>,
): Promise<void> {
  const basic = Buffer.from(`${ras.credentials.appid}:${ras.credentials.token}`).toString('base64');
  for (let i = 0; i < locks.length; i += 1000) {
    const records = locks.slice(i, i + 1000).map((lock) => ({
      lockId: lock.lockId,
      model: 'Bench BSLD',
      firmware: '1.0.0',
      activationCode: ACTIVATION,
      keyId: 1,
      key: keys.get(lock.lockId)!.toString('hex'),
    }));
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${ras.url}/smartlock/factory-records`,
        {
          method: 'POST',
          ca,
          headers: { authorization: `Basic ${basic}`, 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ records }));
    });
    if (status !== 200) throw new Error(`factory records not imported: HTTP ${status}`);
  }
}
