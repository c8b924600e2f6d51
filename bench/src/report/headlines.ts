/** The one figure per scenario that the chart and the summary compare: a cost per unit of work (lower is better). */
import type { ScenarioName } from '../scenarios/context.js';

export interface Headline {
  scenario: ScenarioName;
  variant: string;
  metric: string;
  label: string;
  unit: string;
  /** Multiplies the stored metric into the unit shown. */
  scale: number;
}

export const HEADLINES: readonly Headline[] = [
  {
    scenario: 'login',
    variant: 'starttls',
    metric: 'serverCpuMsPerLogin',
    label: 'first login',
    unit: 'CPU-ms / login',
    scale: 1,
  },
  {
    scenario: 'idle',
    variant: 'starttls',
    metric: 'marginalKbPerConnection',
    label: 'idle',
    unit: 'KB RSS / connection',
    scale: 1,
  },
  {
    scenario: 'throughput',
    variant: 'starttls',
    metric: 'serverCpuSecondsPer1000',
    label: 'throughput TLS',
    unit: 'CPU-ms / 1 000 stanzas',
    scale: 1000,
  },
  {
    scenario: 'throughput',
    variant: 'plain',
    metric: 'serverCpuSecondsPer1000',
    label: 'throughput TCP',
    unit: 'CPU-ms / 1 000 stanzas',
    scale: 1000,
  },
  {
    scenario: 'offline',
    variant: 'starttls',
    metric: 'serverCpuMsPer1000Stored',
    label: 'offline store',
    unit: 'CPU-ms / 1 000 stored',
    scale: 1,
  },
  {
    scenario: 'push',
    variant: 'starttls',
    metric: 'serverCpuMsPerPush',
    label: 'push',
    unit: 'CPU-ms / push',
    scale: 1,
  },
  {
    scenario: 'register',
    variant: 'starttls',
    metric: 'serverCpuMsPerRegistration',
    label: 'register',
    unit: 'CPU-ms / account',
    scale: 1,
  },
];
