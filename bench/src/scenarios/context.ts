/** What every scenario is given, and how it measures a stretch of work. */
import { XmppClient, type LoginOptions } from '../load/client.js';
import type { SaltedPasswordCache } from '../load/scram.js';
import { between, type ProcessMeter, type Sample } from '../load/procstat.js';
import { round } from '../load/latency.js';
import { fetchRoster } from '../load/session.js';
import type { IrspUnderTest } from '../servers/irsp.js';
import { DOMAIN, PASSWORD, type ServerName, type ServerUnderTest } from '../servers/types.js';

export type ScenarioName =
  | 'login'
  | 'idle'
  | 'throughput'
  | 'offline'
  | 'push'
  | 'register'
  | 'notify'
  | 'chaos'
  | 'unlock'
  | 'cluster';
export const SCENARIO_NAMES: readonly ScenarioName[] = [
  'login',
  'idle',
  'throughput',
  'offline',
  'push',
  'register',
  'notify',
  'chaos',
  'unlock',
  'cluster',
];

export type Metrics = Record<string, number | null>;

export interface ScenarioContext {
  server: ServerUnderTest;
  quick: boolean;
  meter: ProcessMeter;
  ca: string;
  saltedPasswords: SaltedPasswordCache;
  /** Plain TCP instead of STARTTLS (the `plain` variant of `throughput`). */
  plain: boolean;
  notes: string[];
  /** The measured windows so far, for cutting our server's CPU profile down to them. */
  spans: Span[];
}

/**
 * A measured window on the machine's monotonic clock in µs: the clock V8 stamps a .cpuprofile's samples with
 * (CLOCK_MONOTONIC, shared by every process), so the profile of the server's process can be cut to it.
 */
export interface Span {
  phase: string;
  fromMicros: number;
  toMicros: number;
}

const monotonicMicros = (): number => Number(process.hrtime.bigint() / 1000n);

export interface Variant {
  label: string;
  requireTls: boolean;
  /** Ours runs the smart-lock application server in its process too (the unlock scenario). */
  smartlock?: boolean;
  /** Ours runs its AS as a cluster of two message servers on NATS (the cluster scenario). */
  cluster?: boolean;
  /** Ours on PostgreSQL only (a cluster's servers share one database; its baseline runs there too). */
  postgresOnly?: boolean;
}

export interface Scenario {
  name: ScenarioName;
  /** true, or why this server cannot run it. */
  supports(server: ServerName): true | string;
  variants(server: ServerName): Variant[];
  run(ctx: ScenarioContext): Promise<Metrics>;
}

export const STARTTLS: Variant = { label: 'starttls', requireTls: true };

export function login(
  ctx: ScenarioContext,
  username: string,
  resource: string,
  extra: Partial<LoginOptions> = {},
): Promise<XmppClient> {
  return XmppClient.login({
    host: '127.0.0.1',
    port: ctx.server.c2sPort,
    domain: DOMAIN,
    username,
    password: PASSWORD,
    resource,
    starttls: !ctx.plain,
    ca: ctx.ca,
    // PLAIN on the plain variant would send the password in clear; SCRAM works on both.
    mechanism: 'SCRAM-SHA-1',
    saltedPasswords: ctx.saltedPasswords,
    ...extra,
  });
}

/** Logged in, roster fetched, available (initial presence): what a chatting client is. */
export async function online(
  ctx: ScenarioContext,
  username: string,
  resource: string,
  extra: Partial<LoginOptions> = {},
): Promise<XmppClient> {
  const client = await login(ctx, username, resource, extra);
  await fetchRoster(client);
  client.write('<presence/>');
  return client;
}

export interface Window {
  wallSeconds: number;
  serverCpuSeconds: number;
  serverCpuShare: number;
  loadgenCpuShare: number;
  rssKb: number;
  /** Of serverCpuSeconds, the database backends' (PostgreSQL only). */
  dbCpuSeconds?: number;
  allPostgresCpuSeconds?: number;
}

/**
 * Starts a measurement of the server (from /proc) and of the load generator itself (process.cpuUsage); the window
 * is added to ctx.spans as `phase` when it stops.
 */
export function startWindow(ctx: Pick<ScenarioContext, 'meter' | 'spans'>, phase: string): () => Window {
  const { meter } = ctx;
  const fromMicros = monotonicMicros();
  const before: Sample = meter.sample();
  const cpu = process.cpuUsage();
  return () => {
    const after = meter.sample();
    ctx.spans.push({ phase, fromMicros, toMicros: monotonicMicros() });
    const d = between(before, after);
    const own = process.cpuUsage(cpu);
    return {
      wallSeconds: d.wallSeconds,
      serverCpuSeconds: d.cpuSeconds,
      serverCpuShare: d.cpuShare,
      loadgenCpuShare: (own.user + own.system) / 1e6 / d.wallSeconds,
      rssKb: after.rssKb,
      ...(d.dbCpuSeconds === undefined
        ? {}
        : { dbCpuSeconds: d.dbCpuSeconds, allPostgresCpuSeconds: d.allPostgresCpuSeconds }),
    };
  };
}

/** The fields every report carries about a window. */
export function windowMetrics(w: Window): Metrics {
  return {
    wallSeconds: round(w.wallSeconds),
    serverCpuSeconds: round(w.serverCpuSeconds),
    serverCpuShare: round(w.serverCpuShare),
    loadgenCpuShare: round(w.loadgenCpuShare),
    serverRssMb: round(w.rssKb / 1024, 1),
    ...(w.dbCpuSeconds === undefined
      ? {}
      : {
          // Included in serverCpuSeconds: the PostgreSQL backends of our pool.
          databaseCpuSeconds: round(w.dbCpuSeconds),
          // Every postgres process of the machine in the window (others' tests too): for reference only.
          allPostgresCpuSeconds: round(w.allPostgresCpuSeconds ?? 0),
        }),
  };
}

export function names(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

export function asIrsp(server: ServerUnderTest): IrspUnderTest {
  if (server.name !== 'irsp') throw new Error('this scenario runs on our IRSP only');
  return server as IrspUnderTest;
}
