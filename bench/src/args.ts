/** `pnpm bench [--scenario a,b] [--servers irsp,prosody,ejabberd] [--quick] [--profile] [--out dir]` */
import { SCENARIO_NAMES, type ScenarioName } from './scenarios/context.js';
import { SERVER_NAMES, type ServerName } from './servers/types.js';

export interface BenchArgs {
  scenarios: ScenarioName[];
  servers: ServerName[];
  quick: boolean;
  /** --cpu-prof of our server during `throughput`. */
  profile: boolean;
  out: string;
}

function list<T extends string>(value: string | undefined, allowed: readonly T[], what: string): T[] {
  if (value === undefined) return [...allowed];
  const items = value.split(',').filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw new Error(`unknown ${what} ${item} (one of ${allowed.join(', ')})`);
  }
  return allowed.filter((a) => items.includes(a));
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') continue;
    const [key, inline] = arg.split('=', 2) as [string, string | undefined];
    if (key === '--quick' || key === '--profile') flags.add(key);
    else if (key === '--scenario' || key === '--servers' || key === '--out')
      values.set(key, inline ?? argv[++i] ?? '');
    else throw new Error(`unknown argument ${arg}`);
  }
  return {
    scenarios: list(values.get('--scenario'), SCENARIO_NAMES, 'scenario'),
    servers: list(values.get('--servers'), SERVER_NAMES, 'server'),
    quick: flags.has('--quick'),
    profile: flags.has('--profile'),
    out: values.get('--out') ?? 'bench/results',
  };
}
