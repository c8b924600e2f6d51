/**
 * Loading the topology: YAML (or JSON) file → `${VAR}` substitution in string values → environment overrides
 * → zod validation. Relative paths are relative to the working directory (the project root for `pnpm start`).
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { topologySchema, type Topology } from './topology.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed document; an unset VAR is an error. */
export function substituteEnv(value: unknown, env: Env, path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(VARIABLE, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`${path || 'config'}: environment variable ${name} is not set`);
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        substituteEnv(item, env, path ? `${path}.${key}` : key),
      ]),
    );
  }
  return value;
}

/** Environment variables that override the file, for a deployment that should not edit it. */
export function applyEnvOverrides(document: Record<string, unknown>, env: Env): Record<string, unknown> {
  const out = { ...document };
  const section = (key: string) => ({ ...((out[key] as Record<string, unknown> | undefined) ?? {}) });
  if (env.DATABASE_URL) out.database = { ...section('database'), url: env.DATABASE_URL };
  if (env.IRSP_DATA_DIR) out.database = { ...section('database'), dataDir: env.IRSP_DATA_DIR };
  // Without a tls section the schema's default is local mode; keep it instead of leaving tls without a mode.
  if (env.IRSP_TLS_DIR) out.tls = { mode: 'local', ...section('tls'), dir: env.IRSP_TLS_DIR };
  if (env.LOG_LEVEL) out.logLevel = env.LOG_LEVEL;
  return out;
}

export function parseTopology(document: unknown, env: Env = process.env): Topology {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError('the topology must be a mapping');
  }
  const substituted = substituteEnv(document, env) as Record<string, unknown>;
  const result = topologySchema.safeParse(applyEnvOverrides(substituted, env));
  if (!result.success) {
    const lines = result.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new ConfigError(`invalid IRSP topology:\n${lines.join('\n')}`);
  }
  return result.data;
}

export async function loadTopology(file: string, env: Env = process.env): Promise<Topology> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the IRSP topology ${file}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(`${file} is not valid YAML: ${(error as Error).message}`);
  }
  return parseTopology(document, env);
}
