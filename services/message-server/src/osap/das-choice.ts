/**
 * Section 7, F2: which device access service (DAS) the LBS sends a device to. Of the configured instances, the
 * healthy ones compete on load ÷ capacity. No DAS exists yet to report its health and connections (decision 0020),
 * so both come from a probe: the default takes health from the configuration (`enabled`) and counts as load the
 * devices this LBS has sent to each instance; a deployment with a DAS passes a probe that asks it.
 */
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
/** Asks one DAS instance how it is; a probe that throws or rejects counts the instance as unhealthy. */
export type DasProbe = (das: DasInstanceConfig) => Promise<DasStatus> | DasStatus;

/** The configured DAS instances, probed at each choice. */
export class DasDirectory {
  private readonly sent = new Map<DasInstanceConfig, number>();
  private readonly probe: DasProbe;

  constructor(
    private readonly instances: readonly DasInstanceConfig[],
    probe?: DasProbe,
  ) {
    this.probe = probe ?? ((das) => ({ healthy: true, load: this.sent.get(das) ?? 0 }));
  }

  async choose(): Promise<DasAddress | undefined> {
    const candidates = await Promise.all(
      this.instances.map(async (das): Promise<DasCandidate> => {
        const status = das.enabled
          ? await Promise.resolve()
              .then(() => this.probe(das))
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
