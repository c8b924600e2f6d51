/**
 * `pnpm bench [--scenario a,b] [--servers irsp,prosody,ejabberd] [--quick] [--profile] [--perf] [--out dir]
 *   [--database postgres://…] [--irsp-db pglite,postgres]`
 */
import { SCENARIO_NAMES, type ScenarioName } from './scenarios/context.js';
import { SERVER_NAMES, type ServerName } from './servers/types.js';

export interface BenchArgs {
  scenarios: ScenarioName[];
  servers: ServerName[];
  quick: boolean;
  /** --cpu-prof of our server in every scenario it runs. */
  profile: boolean;
  /** Linux perf of our server (every thread, native code) in every scenario it runs. */
  perf: boolean;
  out: string;
  /** PostgreSQL for our server (--database, else DATABASE_URL); undefined: PGlite only. */
  database: string | undefined;
  /** The databases our server runs each scenario on: PGlite, and PostgreSQL when a URL is given. */
  irspDatabases: IrspDatabase[];
}

export type IrspDatabase = 'pglite' | 'postgres';
const IRSP_DATABASES: readonly IrspDatabase[] = ['pglite', 'postgres'];

function list<T extends string>(value: string | undefined, allowed: readonly T[], what: string): T[] {
  if (value === undefined) return [...allowed];
  const items = value.split(',').filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw new Error(`unknown ${what} ${item} (one of ${allowed.join(', ')})`);
  }
  return allowed.filter((a) => items.includes(a));
}

export function parseArgs(
  argv: readonly string[],
  env: Record<string, string | undefined> = process.env,
): BenchArgs {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') continue;
    const [key, inline] = arg.split('=', 2) as [string, string | undefined];
    if (key === '--quick' || key === '--profile' || key === '--perf') flags.add(key);
    else if (
      key === '--scenario' ||
      key === '--servers' ||
      key === '--out' ||
      key === '--database' ||
      key === '--irsp-db'
    )
      values.set(key, inline ?? argv[++i] ?? '');
    else throw new Error(`unknown argument ${arg}`);
  }
  const database = values.get('--database') || env['DATABASE_URL'] || undefined;
  if (database !== undefined && !/^postgres(ql)?:\/\//.test(database))
    throw new Error('--database must be a postgres:// URL');
  const irspDatabases = values.has('--irsp-db')
    ? list(values.get('--irsp-db'), IRSP_DATABASES, 'database')
    : database
      ? [...IRSP_DATABASES]
      : ['pglite' as const];
  if (irspDatabases.includes('postgres') && !database)
    throw new Error('--irsp-db postgres needs --database postgres://… or DATABASE_URL');
  return {
    database,
    irspDatabases,
    scenarios: list(values.get('--scenario'), SCENARIO_NAMES, 'scenario'),
    servers: list(values.get('--servers'), SERVER_NAMES, 'server'),
    quick: flags.has('--quick'),
    profile: flags.has('--profile'),
    perf: flags.has('--perf'),
    out: values.get('--out') ?? 'bench/results',
  };
}
