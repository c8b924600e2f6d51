/**
 * Section 7, F2: which device access service (DAS) the LBS sends a device to. Of the configured instances, the
 * healthy ones compete on load ÷ capacity, both from a probe. Message servers use `reachableDasProbe` (their own DAS
 * with its real load, others by whether they answer TCP); without a probe, health is the configuration's `enabled`
 * and load the devices this LBS has sent to each instance.
 */
import { connect } from 'node:net';
import type { DasInstanceConfig } from '@irsp/config';
import type { DasAddress } from '@irsp/osap';

export interface DasCandidate {
  address: DasAddress;
  capacity: number;
  healthy: boolean;
  /** Device connections it carries (or, for the default probe, devices sent there). */
  load: number;
}

/** The healthy DAS with the lowest load ÷ capacity, the first listed on a tie; undefined when none is healthy. */
export function chooseDas(candidates: readonly DasCandidate[]): DasAddress | undefined {
  let best: DasCandidate | undefined;
  for (const candidate of candidates) {
    if (!candidate.healthy) continue;
    if (best === undefined || candidate.load / candidate.capacity < best.load / best.capacity)
      best = candidate;
  }
  return best?.address;
}

export interface DasStatus {
  healthy: boolean;
  load: number;
}
/**
 * Asks one DAS instance how it is; a probe that throws or rejects counts the instance as unhealthy. `sent`: the
 * devices this LBS has sent there so far.
 */
export type DasProbe = (das: DasInstanceConfig, sent: number) => Promise<DasStatus> | DasStatus;

/** The DAS this message server runs (decision 0022): its address and the devices connected to it now. */
export interface LocalDas {
  host: string;
  port: number;
  load(): number;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/**
 * The probe of a message server that runs a DAS: its own instance is healthy with its real load; any other is
 * healthy while a TCP connection to it opens within `timeoutMs` (checked at most every `ttlMs`), loaded with what
 * this LBS sent there. So a DAS that died is skipped, and its devices, re-authenticating, land on another.
 */
export function reachableDasProbe(
  local: LocalDas | undefined,
  { timeoutMs = 1_000, ttlMs = 5_000 }: { timeoutMs?: number; ttlMs?: number } = {},
): DasProbe {
  const checked = new Map<string, { at: number; healthy: Promise<boolean> }>();
  const reachable = (das: DasInstanceConfig): Promise<boolean> => {
    const key = `${das.host}:${das.port}`;
    const last = checked.get(key);
    if (last && Date.now() - last.at < ttlMs) return last.healthy;
    const healthy = new Promise<boolean>((resolve) => {
      const socket = connect({ host: das.host, port: das.port, timeout: timeoutMs });
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.once('connect', () => done(true));
      socket.once('timeout', () => done(false));
      socket.once('error', () => done(false));
    });
    checked.set(key, { at: Date.now(), healthy });
    return healthy;
  };
  return async (das, sent) => {
    const isLocal =
      local !== undefined &&
      das.port === local.port &&
      (das.host === local.host || WILDCARD_HOSTS.has(local.host));
    if (isLocal) return { healthy: true, load: local.load() };
    return { healthy: await reachable(das), load: sent };
  };
}

/** The configured DAS instances, probed at each choice. */
export class DasDirectory {
  private readonly sent = new Map<DasInstanceConfig, number>();
  private readonly probe: DasProbe;

  constructor(
    private readonly instances: readonly DasInstanceConfig[],
    probe?: DasProbe,
  ) {
    this.probe = probe ?? ((_das, sent) => ({ healthy: true, load: sent }));
  }

  async choose(): Promise<DasAddress | undefined> {
    const candidates = await Promise.all(
      this.instances.map(async (das): Promise<DasCandidate> => {
        const status = das.enabled
          ? await Promise.resolve()
              .then(() => this.probe(das, this.sent.get(das) ?? 0))
              .catch(() => ({ healthy: false, load: 0 }))
          : { healthy: false, load: 0 };
        return { address: { host: das.host, port: das.port }, capacity: das.capacity, ...status };
      }),
    );
    const chosen = chooseDas(candidates);
    const instance = this.instances.find((d) => d.host === chosen?.host && d.port === chosen.port);
    if (instance) this.sent.set(instance, (this.sent.get(instance) ?? 0) + 1);
    return chosen;
  }
}
