/** The targets of issue 5, each checked against the figures of the same run. */
import { figure, type RunResult } from './types.js';

export interface TargetCheck {
  target: string;
  measured: string;
  /** null: not measurable in this run (a server or figure missing). */
  met: boolean | null;
}

const fmt = (value: number | null, unit = '') => (value === null ? 'n/a' : `${value}${unit}`);
/** 19400 → "19 400", as the rest of the report writes counts. */
export const spaced = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
const fmtCount = (n: number | null) => (n === null ? 'n/a' : spaced(n));
/** The connections the idle targets name. */
const IDLE_TARGET_CONNECTIONS = 50_000;

/**
 * The targets for our server on PGlite (variant `starttls`) and, when the run has it, on PostgreSQL
 * (`starttls+postgres`, marked in the target's name).
 */
export function checkTargets(run: RunResult): TargetCheck[] {
  const checks = checkTargetsOf(run, 'starttls', '');
  if (run.results.some((r) => r.server === 'irsp' && r.variant === 'starttls+postgres'))
    checks.push(...checkTargetsOf(run, 'starttls+postgres', ' — PostgreSQL'));
  return checks;
}

function checkTargetsOf(run: RunResult, variant: string, suffix: string): TargetCheck[] {
  const ours = (scenario: Parameters<typeof figure>[2], metric: string) =>
    figure(run, 'irsp', scenario, metric, variant);
  const checks: TargetCheck[] = [];
  const add = (target: string, measured: string, met: boolean | null) =>
    checks.push({ target: `${target}${suffix}`, measured, met });
  const atLeast = (value: number | null, bound: number | null) =>
    value === null || bound === null ? null : value >= bound;
  const atMost = (value: number | null, bound: number | null) =>
    value === null || bound === null ? null : value <= bound;

  const stanzas = ours('throughput', 'deliveredPerServerCpuSecond');
  const ejabberd = figure(run, 'ejabberd', 'throughput', 'deliveredPerServerCpuSecond');
  add(
    'delivered stanzas per server-CPU-second ≥ 2× ejabberd (STARTTLS)',
    `${fmt(stanzas)} vs ejabberd ${fmt(ejabberd)} (×${stanzas && ejabberd ? (stanzas / ejabberd).toFixed(2) : 'n/a'})`,
    atLeast(stanzas, ejabberd === null ? null : 2 * ejabberd),
  );
  // First logins of new clients (full TLS handshake, nothing cached): the measured rate, and what the server's
  // CPU per login would allow on its one core (the load generator may be the bound).
  const logins = ours('login', 'loginsPerSecond');
  const loginCpuMs = ours('login', 'serverCpuMsPerLogin');
  add(
    'SCRAM-SHA-1 first logins ≥ 2 000/s',
    `${fmt(logins, '/s')} (${fmt(loginCpuMs, ' server CPU-ms')} each: ` +
      `${loginCpuMs ? `${Math.round(1000 / loginCpuMs)}/s` : 'n/a'} on one core)`,
    atLeast(logins, 2000),
  );
  // RAM per idle connection: the marginal cost at the largest level reached, without TLS (our listener for a
  // TLS-terminating proxy) against the bound, with STARTTLS against Prosody's with STARTTLS.
  const plainVariant = variant.replace('starttls', 'plain');
  const plainKb = figure(run, 'irsp', 'idle', 'marginalKbPerConnection', plainVariant);
  const plainReached = figure(run, 'irsp', 'idle', 'maxConnections', plainVariant);
  const tlsKb = ours('idle', 'marginalKbPerConnection');
  const tlsReached = ours('idle', 'maxConnections');
  const prosodyKb = figure(run, 'prosody', 'idle', 'marginalKbPerConnection');
  const prosodyReached = figure(run, 'prosody', 'idle', 'maxConnections');
  // The targets are at 50 000 connections. A run that reaches fewer (the open-file limit) checks the figure at
  // the connections it reached and says so in the target's name: a marginal cost that does not change from
  // 1 000 to 18 900 connections is what it is, but it is the figure at 18 900, not at 50 000.
  const idleAt = (...reached: (number | null)[]) => {
    const known = reached.filter((r): r is number => r !== null);
    const fewest = known.length === 0 ? null : Math.min(...known);
    return fewest === null || fewest >= IDLE_TARGET_CONNECTIONS
      ? `at ${spaced(IDLE_TARGET_CONNECTIONS)} connections`
      : `at the ${spaced(fewest)} connections reached (target at ${spaced(IDLE_TARGET_CONNECTIONS)}, not reached)`;
  };
  add(
    `RAM per idle authenticated connection without TLS ≤ 20 KB ${idleAt(plainReached)}`,
    `${fmt(plainKb, ' KB')} at ${fmtCount(plainReached)} connections`,
    atMost(plainKb, 20),
  );
  add(
    `RAM per idle authenticated connection with TLS below Prosody's (STARTTLS) ${idleAt(tlsReached, prosodyReached)}`,
    `${fmt(tlsKb, ' KB')} at ${fmtCount(tlsReached)} vs Prosody ${fmt(prosodyKb, ' KB')} at ${fmtCount(prosodyReached)}`,
    tlsKb === null || prosodyKb === null ? null : tlsKb < prosodyKb,
  );
  const stored = ours('offline', 'storedPerSecond');
  add('offline messages stored ≥ 5 000/s', fmt(stored, '/s'), atLeast(stored, 5000));
  const drained = ours('offline', 'drainedAfterPresenceMs');
  add('offline messages drained ≤ 300 ms after presence', fmt(drained, ' ms'), atMost(drained, 300));
  const pushes = ours('push', 'deliveredPerSecond');
  add('Message 13 pushes ≥ 10 000/s', fmt(pushes, '/s'), atLeast(pushes, 10_000));
  const registrations = ours('register', 'registrationsPerSecond');
  add('registrations ≥ 1 000/s', fmt(registrations, '/s'), atLeast(registrations, 1000));
  const backlog = ours('notify', 'backlogDrainPerSecond');
  add('notification backlog drains ≥ 5 000/s', fmt(backlog, '/s'), atLeast(backlog, 5000));
  const lost = ours('chaos', 'lostTotal');
  const unmarked = ours('chaos', 'unmarkedDuplicatesTotal');
  add(
    'chaos: zero lost, zero unmarked duplicates',
    `${fmt(lost)} lost, ${fmt(unmarked)} unmarked duplicates`,
    lost === null || unmarked === null ? null : lost === 0 && unmarked === 0,
  );
  return checks;
}
