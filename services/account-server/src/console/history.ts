/**
 * The operator console's metric history (decision 0023): every service's `/metrics` sampled on an interval, the last
 * hour kept in memory as a ring of samples. Nothing is stored: after a restart the plots start empty, and a second
 * account server keeps a history of its own. Prometheus is the place for longer or shared history.
 */
import type { Topology } from '@irsp/config';
import type { Logger, Probe } from '@irsp/http';
import { applicationServerTarget, type AdminAnswer, type adminConsole } from '@irsp/protocol';
import { metricValue, parsePrometheus, type PromSample } from './prometheus.js';

type Series = AdminAnswer<typeof adminConsole>['history']['series'][number];
type Metric = Series['metric'];

/** A service whose `/metrics` is sampled; `outboxOf` names the AS whose outbox a message server reports. */
export interface SampledService {
  key: string;
  url: string;
  kind: 'account-server' | 'message-server' | 'application-server';
  domain?: string;
}

/** The services of a topology, by the keys the console shows them under. */
export function sampledServices(
  accountServerUrl: string,
  autonomousSystems: Topology['autonomousSystems'],
): SampledService[] {
  return [
    { key: 'account-server', url: accountServerUrl, kind: 'account-server' },
    ...autonomousSystems.flatMap((as) => [
      ...as.messageServers.map((ms) => ({
        key: `${as.domain}/${ms.id}`,
        url: ms.url,
        kind: 'message-server' as const,
        domain: as.domain,
      })),
      ...as.applicationServers.map((app) => ({
        key: `${as.domain}/${app.name}`,
        url: app.url,
        kind: 'application-server' as const,
        domain: as.domain,
      })),
    ]),
  ];
}

/** The outbox's receivers an AS has at least: its application servers and the account server (Message 7). */
const outboxTargets = (as: Topology['autonomousSystems'][number]) => [
  ...as.applicationServers.map((a) => applicationServerTarget(a.name)),
  'account-server',
];

export class MetricHistory {
  private readonly at: number[] = [];
  private readonly series = new Map<string, Series>();

  constructor(private readonly capacity: number) {}

  /** One sample time: every series gets a value (null where none was read), new series are padded with nulls. */
  record(
    at: number,
    readings: readonly { metric: Metric; service: string; label: string | null; value: number }[],
  ) {
    this.at.push(at);
    for (const s of this.series.values()) s.values.push(null);
    for (const r of readings) {
      const key = `${r.metric} ${r.service} ${r.label ?? ''}`;
      let s = this.series.get(key);
      if (!s) {
        s = { metric: r.metric, service: r.service, label: r.label, values: this.at.map(() => null) };
        this.series.set(key, s);
      }
      s.values[s.values.length - 1] = r.value;
    }
    if (this.at.length > this.capacity) {
      const drop = this.at.length - this.capacity;
      this.at.splice(0, drop);
      for (const s of this.series.values()) s.values.splice(0, drop);
    }
  }

  snapshot(): { at: string[]; series: Series[] } {
    return {
      at: this.at.map((t) => new Date(t).toISOString()),
      series: [...this.series.values()].map((s) => ({ ...s, values: [...s.values] })),
    };
  }
}

/** Samples every service now and then, the last hour kept (at least one sample). */
export class MetricSampler {
  readonly history: MetricHistory;
  /** The last total of requests served per service and when it was read, for a rate. */
  private readonly requestTotals = new Map<string, { at: number; total: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly services: readonly SampledService[],
    private readonly autonomousSystems: Topology['autonomousSystems'],
    private readonly probe: Probe,
    private readonly logger: Logger,
    readonly intervalMs: number,
  ) {
    this.history = new MetricHistory(Math.max(1, Math.ceil(3_600_000 / intervalMs)));
  }

  start(): void {
    const tick = () => {
      this.running ??= this.sample()
        .catch((error: unknown) => this.logger.warn({ err: error }, 'metric sampling failed'))
        .finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  async sample(): Promise<void> {
    const at = Date.now();
    const scraped = await Promise.all(
      this.services.map(async (service) => {
        const answer = await this.probe.get(`${service.url}/metrics`);
        return {
          service,
          samples: answer.ok && answer.status === 200 ? parsePrometheus(answer.body) : undefined,
        };
      }),
    );
    const readings: { metric: Metric; service: string; label: string | null; value: number }[] = [];
    const read = (
      metric: Metric,
      service: string,
      value: number | undefined,
      label: string | null = null,
    ) => {
      if (value !== undefined) readings.push({ metric, service, label, value });
    };
    for (const { service, samples } of scraped) {
      if (!samples) continue;
      read('memory', service.key, metricValue(samples, 'process_resident_memory_bytes'));
      read('eventLoopLag', service.key, metricValue(samples, 'nodejs_eventloop_lag_p99_seconds'));
      read('requests', service.key, this.requestRate(service.key, at, samples));
      if (service.kind === 'message-server')
        read('sessions', service.key, metricValue(samples, 'irsp_xmpp_sessions'));
    }
    // An AS's outbox is one table that each of its message servers reports: the first that answered is read, and a
    // receiver it does not list has nothing waiting.
    for (const as of this.autonomousSystems) {
      const reported = scraped.find(
        (s) => s.service.kind === 'message-server' && s.service.domain === as.domain,
      )?.samples;
      if (!reported) continue;
      const backlog = new Map(outboxTargets(as).map((target) => [target, 0]));
      for (const s of reported)
        if (s.name === 'irsp_outbox_backlog' && s.labels['target']) backlog.set(s.labels['target'], s.value);
      for (const [target, count] of backlog) read('outbox', as.domain, count, target);
    }
    this.history.record(at, readings);
  }

  /** Requests served per second since the last sample (undefined at the first, or after the service restarted). */
  private requestRate(key: string, at: number, samples: readonly PromSample[]): number | undefined {
    // The IRSP's work only: not the operators' (admin calls, the console's page) nor what has no operation
    // (`other`: /metrics, /readyz, unknown paths), or the console would plot its own sampling and refreshing.
    const served = samples.filter(
      (s) => s.name === 'irsp_requests_total' && !/^(other$|admin|console)/.test(s.labels['operation'] ?? ''),
    );
    if (!samples.some((s) => s.name === 'irsp_requests_total')) return undefined;
    const total = served.reduce((sum, s) => sum + s.value, 0);
    const last = this.requestTotals.get(key);
    this.requestTotals.set(key, { at, total });
    if (!last || total < last.total || at <= last.at) return undefined;
    return (total - last.total) / ((at - last.at) / 1000);
  }
}
