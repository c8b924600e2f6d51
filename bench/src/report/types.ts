/** The JSON a run writes (bench/results/<date>.json), read back by the Markdown and SVG renderers. */
import type { Metrics, ScenarioName } from '../scenarios/context.js';
import type { ServerName } from '../servers/types.js';
import type { NativeProfile } from './perf.js';

export interface ScenarioResult {
  scenario: ScenarioName;
  server: ServerName;
  variant: string;
  metrics: Metrics | null;
  /** Why it did not run or what limited it. */
  notes: string[];
}

export interface RunResult {
  date: string;
  quick: boolean;
  pinned: boolean;
  machine: Record<string, string | number>;
  versions: Partial<Record<ServerName, string>>;
  results: ScenarioResult[];
  /** Runs before profiles of every scenario were kept: the profile of `throughput`. */
  profile?: ProfileEntry[];
  /** --profile: our server's top self times per `<scenario> (<variant>)[: <measured window>]`. */
  profiles?: Record<string, ProfileEntry[]>;
  /** --perf: our server's native profile per `<scenario> (<variant>): <measured window>`. */
  nativeProfiles?: Record<string, NativeProfile>;
}

export interface ProfileEntry {
  function: string;
  selfMs: number;
  selfShare: number;
}

/** The figure of one scenario, variant and metric for one server, if measured. */
export function figure(
  run: RunResult,
  server: ServerName,
  scenario: ScenarioName,
  metric: string,
  variant = 'starttls',
) {
  const result = run.results.find(
    (r) => r.server === server && r.scenario === scenario && r.variant === variant,
  );
  const value = result?.metrics?.[metric];
  return typeof value === 'number' ? value : null;
}
