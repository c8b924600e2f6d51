/**
 * 1. SCRAM-SHA-1 logins over STARTTLS, 50 at a time: connect → STARTTLS → SASL → bind → close. Three kinds, each in
 * a window of its own (docs/performance.md, "Logins"):
 * - first: what a new client does the first time — a full TLS handshake (no session to resume) — for an account
 *   that has not logged in since the server started, so nothing of it is cached on the server (the headline);
 * - repeated: the same handshake for accounts that logged in before (the server's caches warm: what earlier runs
 *   reported as a login);
 * - resumed: a returning client that offers the TLS session the server gave it at its previous login.
 * An unmeasured pass over the repeated accounts comes first, so that no window pays for the server's warm-up.
 */
import type { XmppClient } from '../load/client.js';
import { LatencyRecorder, round } from '../load/latency.js';
import { inParallel } from '../load/session.js';
import {
  STARTTLS,
  login,
  names,
  startWindow,
  windowMetrics,
  type Metrics,
  type Scenario,
  type ScenarioContext,
  type Window,
} from './context.js';

export const CONCURRENCY = 50;

export type LoginKind = 'first' | 'repeated' | 'resumed';

/** The figures of one kind of login; the first kind's are unprefixed (the headline), the others' prefixed. */
export function loginMetrics(
  kind: LoginKind,
  w: Window,
  logins: number,
  latency: LatencyRecorder,
  resumed: number,
): Metrics {
  const { p50Ms, p99Ms } = latency.summary();
  if (kind === 'first') {
    return {
      logins,
      loginsPerSecond: round(logins / w.wallSeconds, 1),
      serverCpuMsPerLogin: round((w.serverCpuSeconds * 1000) / logins),
      p50Ms,
      p99Ms,
      ...windowMetrics(w),
    };
  }
  const figures: Metrics = {
    [`${kind}Logins`]: logins,
    [`${kind}LoginsPerSecond`]: round(logins / w.wallSeconds, 1),
    [`serverCpuMsPer${kind === 'repeated' ? 'Repeated' : 'Resumed'}Login`]: round(
      (w.serverCpuSeconds * 1000) / logins,
    ),
    [`${kind}P50Ms`]: p50Ms,
    [`${kind}P99Ms`]: p99Ms,
    [`${kind}LoadgenCpuShare`]: round(w.loadgenCpuShare),
  };
  // Whether the server took the sessions offered: a server that issues no ticket, or cannot resume, does a
  // full handshake, and its resumed figure is its repeated one.
  if (kind === 'resumed') figures.resumedShare = round(resumed / logins);
  return figures;
}

export const loginScenario: Scenario = {
  name: 'login',
  supports: () => true,
  variants: () => [STARTTLS],
  async run(ctx) {
    const accounts = names('l', ctx.quick ? 200 : 1000);
    const firsts = names('f', ctx.quick ? 200 : 2000);
    const total = ctx.quick ? 1000 : 5000;
    await ctx.server.createAccounts([...accounts, ...firsts], 'user');
    const sessions = new Map<string, Buffer | undefined>();
    /** Streams still closing: waited for between windows, so that none is charged another window's closes. */
    const pending = new Set<Promise<void>>();
    const once = async (username: string, resource: string, offer = false) => {
      const started = performance.now();
      const client: XmppClient = await login(ctx, username, resource, {
        tlsSession: offer ? sessions.get(username) : undefined,
      });
      const ms = performance.now() - started;
      // A TLS 1.3 ticket comes after the handshake, usually before binding; one not yet here keeps the older.
      if (client.tlsSession) sessions.set(username, client.tlsSession);
      // Not awaited: the next login starts while this stream closes, as a real client population would.
      const closing = client.close().finally(() => pending.delete(closing));
      pending.add(closing);
      return { ms, resumed: client.tlsResumed };
    };
    // Unmeasured: the server's code warmed up, and the load generator's SaltedPassword of these accounts cached.
    await inParallel(accounts, CONCURRENCY, (a, i) => once(a, `w${i}`));

    const measure = async (kind: LoginKind, users: readonly string[]) => {
      await Promise.all(pending);
      const latency = new LatencyRecorder();
      let resumed = 0;
      const stop = startWindow(ctx, `${kind} logins`);
      await inParallel(users, CONCURRENCY, async (user, i) => {
        const result = await once(user, `${kind[0]}${i}`, kind === 'resumed');
        latency.record(result.ms);
        if (result.resumed) resumed += 1;
      });
      return loginMetrics(kind, stop(), users.length, latency, resumed);
    };
    const cycle = (n: number) => Array.from({ length: n }, (_, i) => accounts[i % accounts.length]!);
    const first = await measure('first', firsts);
    const repeated = await measure('repeated', cycle(total));
    const resumed = await measure('resumed', cycle(total));
    noteLoadgen(ctx, first);
    return { ...first, ...repeated, ...resumed };
  },
};

/** A first login makes the load generator derive the account's SaltedPassword (PBKDF2): its rate may be bound there. */
function noteLoadgen(ctx: ScenarioContext, first: Metrics): void {
  const share = first.loadgenCpuShare;
  if (typeof share === 'number' && share > 0.9)
    ctx.notes.push(
      `login: first logins bound by the load generator (${Math.round(share * 100)} % of its core: ` +
        "it derives each new account's SaltedPassword); serverCpuMsPerLogin is not",
    );
}
