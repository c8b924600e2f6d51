/** The scenarios in the order a run goes through them (issue 5). */
import type { Scenario } from './context.js';
import { chaosScenario } from './chaos.js';
import { clusterScenario } from './cluster.js';
import { idleScenario } from './idle.js';
import { loginScenario } from './login.js';
import { notifyScenario } from './notify.js';
import { offlineScenario } from './offline.js';
import { pushScenario } from './push.js';
import { registerScenario } from './register.js';
import { throughputScenario } from './throughput.js';
import { unlockScenario } from './unlock.js';

export const SCENARIOS: readonly Scenario[] = [
  loginScenario,
  idleScenario,
  throughputScenario,
  offlineScenario,
  pushScenario,
  registerScenario,
  notifyScenario,
  chaosScenario,
  unlockScenario,
  clusterScenario,
];
