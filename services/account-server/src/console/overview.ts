/**
 * `GET /admin/console` (decision 0023): one answer with all the console shows. The account server asks each
 * message server's admin API with the operator's own `Authorization` (already checked here, checked again there:
 * no credential of the account server's own is involved), each service's `/readyz`, and adds its metric history.
 * A server that does not answer is shown as such; it never fails the whole answer.
 */
import type { Topology } from '@irsp/config';
import { adminRoute, type AdminRoute, type Probe } from '@irsp/http';
import {
  adminConsole,
  adminFailedLogins,
  adminOutbox,
  adminS2s,
  adminSessions,
  adminUrl,
  type AdminAnswer,
  type AdminCall,
} from '@irsp/protocol';
import { recentFailures } from '@irsp/credentials';
import type { Db } from '@irsp/store';
import type { MetricSampler } from './history.js';

/** Recent failed logins shown, all servers together. */
const FAILED_LOGINS = 20;

type Health = { ready: boolean; detail: string | null };

async function readiness(probe: Probe, url: string): Promise<Health> {
  const answer = await probe.get(`${url}/readyz`);
  if (!answer.ok) return { ready: false, detail: `unreachable: ${answer.reason}` };
  return answer.status === 200
    ? { ready: true, detail: null }
    : { ready: false, detail: `readyz ${answer.status}` };
}

/** An admin call's answer from a message server, or null when it did not give one of the call's shape. */
async function ask<C extends AdminCall>(
  probe: Probe,
  call: C,
  base: string,
  authorization: string,
  query: Record<string, string | number> = {},
): Promise<AdminAnswer<C> | null> {
  const answer = await probe.get(adminUrl(call, base, {}, query), { authorization });
  if (!answer.ok || answer.status !== 200) return null;
  try {
    const parsed = call.response.safeParse(JSON.parse(answer.body));
    return parsed.success ? (parsed.data as AdminAnswer<C>) : null;
  } catch {
    return null;
  }
}

export function consoleRoute(options: {
  db: Db;
  url: string;
  autonomousSystems: Topology['autonomousSystems'];
  probe: Probe;
  sampler: MetricSampler;
}): AdminRoute {
  const { db, probe, sampler } = options;
  return adminRoute(adminConsole, async (_input, request) => {
    const authorization = request.headers.authorization ?? '';
    const [accountServer, ownFailures, autonomousSystems] = await Promise.all([
      readiness(probe, options.url),
      recentFailures(db, FAILED_LOGINS),
      Promise.all(
        options.autonomousSystems.map(async (as) => {
          const [messageServers, applicationServers] = await Promise.all([
            Promise.all(
              as.messageServers.map(async (ms) => {
                const [health, sessions, s2s, outbox] = await Promise.all([
                  readiness(probe, ms.url),
                  ask(probe, adminSessions, ms.url, authorization),
                  ask(probe, adminS2s, ms.url, authorization),
                  ask(probe, adminOutbox, ms.url, authorization),
                ]);
                // After the others: the throttle counts a check as failed until it is known right, so the failures
                // read while our own calls are checked would show this page's refreshes as refusals.
                const failures = await ask(probe, adminFailedLogins, ms.url, authorization, {
                  limit: FAILED_LOGINS,
                });
                return { ms, health, sessions, s2s, outbox, failures };
              }),
            ),
            Promise.all(
              as.applicationServers.map(async (app) => ({
                name: app.name,
                url: app.url,
                jid: app.jid,
                ...(await readiness(probe, app.url)),
              })),
            ),
          ]);
          const outbox = messageServers.find((m) => m.outbox)?.outbox ?? null;
          return {
            summary: {
              domain: as.domain,
              messageServers: messageServers.map(({ ms, health, sessions, s2s }) => ({
                id: ms.id,
                url: ms.url,
                ...health,
                sessions: sessions?.sessions ?? null,
                s2s: s2s?.links ?? null,
              })),
              applicationServers,
              outbox: outbox?.outbox ?? null,
              deadLetters: outbox?.deadLetters ?? null,
            },
            failures: messageServers.flatMap(({ ms, failures }) =>
              (failures?.failures ?? []).map((f) => ({ ...f, server: `${as.domain}/${ms.id}` })),
            ),
          };
        }),
      ),
    ]);
    const failedLogins = [
      ...ownFailures.map((f) => ({ ...f, server: 'account-server' })),
      ...autonomousSystems.flatMap((as) => as.failures),
    ]
      .sort((a, b) => b.at.localeCompare(a.at))
      .slice(0, FAILED_LOGINS);
    return {
      at: new Date().toISOString(),
      accountServer: { url: options.url, ...accountServer },
      autonomousSystems: autonomousSystems.map((as) => as.summary),
      failedLogins,
      history: {
        intervalSeconds: Math.max(1, Math.round(sampler.intervalMs / 1000)),
        ...sampler.history.snapshot(),
      },
    };
  });
}
