/** What a verb is given: the manifest, an HTTPS client, the operator's credentials, and how to write. */
import { operatorAuthorization } from '@irsp/credentials';
import { CliError, EXIT, usageError, type ExitCode } from './exit.js';
import type { Http } from './http.js';
import type { Manifest } from './manifest.js';
import type { Progress } from './progress.js';

export interface Context {
  manifest: Manifest;
  http: Http;
  /** `name:password` from IRSP_OPERATOR, else the operator the manifest names. */
  operator: { name: string; password: string } | undefined;
  /** Progress and notes for the person (stderr). */
  note: (text: string) => void;
  /** Lines as they come (tail); the final answer is the verb's result. */
  emit: (text: string) => void;
  progress: Progress;
  json: boolean;
  signal: AbortSignal;
}

/** What a verb ends with: its exit status, the JSON for `--json` and the text for a person. */
export interface Result {
  exit: ExitCode;
  json: unknown;
  text: string;
}

export function operatorHeader(ctx: Context): string {
  if (!ctx.operator)
    throw new CliError(
      EXIT.unauthorized,
      'no operator credentials: the manifest names none; set IRSP_OPERATOR=name:password',
    );
  return operatorAuthorization(ctx.operator.name, ctx.operator.password);
}

type As = Manifest['autonomousSystems'][number];

export function autonomousSystem(ctx: Context, domain: string): As {
  const as = ctx.manifest.autonomousSystems.find((a) => a.domain === domain);
  if (!as) throw usageError(`${domain} is not an AS of this IRSP (${domains(ctx)})`);
  return as;
}

export function domains(ctx: Context): string {
  return ctx.manifest.autonomousSystems.map((a) => a.domain).join(', ');
}

/** An application server named `name` or `name@domain` (the first AS when the domain is left out). */
export function applicationServer(ctx: Context, ref: string) {
  const at = ref.indexOf('@');
  const name = at === -1 ? ref : ref.slice(0, at);
  const as = at === -1 ? ctx.manifest.autonomousSystems[0]! : autonomousSystem(ctx, ref.slice(at + 1));
  const server = as.applicationServers.find((s) => s.name === name);
  if (!server)
    throw usageError(
      `no application server ${name} in ${as.domain} (${as.applicationServers.map((s) => s.name).join(', ')})`,
    );
  return { ...server, domain: as.domain };
}

/** A user or device ID's local part and domain (`alice@as1.irsp.test`, `#lock1@as1.irsp.test`). */
export function splitId(id: string): { local: string; domain: string; device: boolean } {
  const at = id.lastIndexOf('@');
  if (at <= 0 || at === id.length - 1) throw usageError(`${id} is not a user or device ID (local@domain)`);
  return { local: id.slice(0, at), domain: id.slice(at + 1), device: id.startsWith('#') };
}

export function exitOf(ok: boolean): ExitCode {
  return ok ? EXIT.ok : EXIT.failed;
}
