/**
 * The `irsp` command without the process: arguments in, exit status out, text through the given writers, so that
 * tests run it against a real IRSP in-process as well as through the bin.
 */
import { parseArgs } from 'node:util';
import type { Result } from './context.js';
import { CliError, EXIT, type ExitCode } from './exit.js';
import { Http } from './http.js';
import { DEFAULT_MANIFEST, loadManifest } from './manifest.js';
import { PROGRESS_AFTER_MS, stderrProgress } from './progress.js';
import { VERBS, type LocalVerb, type Verb } from './verbs.js';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Ends a verb that runs until interrupted (tail). */
  signal?: AbortSignal;
  /** All of standard input (hash-password). */
  stdin?: () => Promise<string>;
}

const GLOBAL = {
  manifest: {
    type: 'string',
    help: `the manifest to read (default $IRSP_MANIFEST, else ${DEFAULT_MANIFEST})`,
  },
  json: { type: 'boolean', help: 'JSON on stdout, for scripts' },
  help: { type: 'boolean', help: 'what this verb does' },
} as const;

const EXIT_HELP = `Exit status: 0 done (status: all healthy), 1 the IRSP said no (refused, not found, not healthy,
a receiver's error), 2 wrong command line or manifest, 3 a server unreachable, 4 operator credentials missing
or refused.
Operator credentials: $IRSP_OPERATOR (name:password), else those the manifest names (pnpm start writes them).`;

export function generalHelp(): string {
  const width = Math.max(...VERBS.map((v) => usageOf(v).length));
  return [
    'irsp — look at and drive a running IRSP',
    '',
    'Usage: irsp VERB [ARGUMENTS] [--json] [--manifest FILE]',
    '',
    ...VERBS.map((v) => `  ${usageOf(v).padEnd(width)}  ${v.summary}`),
    '',
    'irsp VERB --help says more about one verb.',
    EXIT_HELP,
  ].join('\n');
}

function usageOf(verb: Verb | LocalVerb): string {
  const options = Object.entries(verb.options).map(([name, o]) =>
    o.type === 'boolean' ? `[--${name}]` : `[--${name} ${name.toUpperCase()}]`,
  );
  return [...verb.words, ...verb.args, ...options].join(' ');
}

export function verbHelp(verb: Verb | LocalVerb): string {
  const options = { ...verb.options, ...GLOBAL };
  return [
    `Usage: irsp ${usageOf(verb)}`,
    '',
    `${verb.summary[0]!.toUpperCase()}${verb.summary.slice(1)}.${verb.details ? ` ${verb.details}` : ''}`,
    '',
    'Options:',
    ...Object.entries(options).map(([name, o]) => `  --${name.padEnd(10)} ${o.help}`),
    '',
    EXIT_HELP,
  ].join('\n');
}

/** The verb the positionals name, and its arguments. */
function findVerb(positionals: string[]): { verb: Verb | LocalVerb; args: string[] } | undefined {
  const matching = VERBS.filter((v) => v.words.every((w, i) => positionals[i] === w));
  const verb = matching.sort((a, b) => b.words.length - a.words.length)[0];
  return verb ? { verb, args: positionals.slice(verb.words.length) } : undefined;
}

export async function run(argv: readonly string[], io: Io): Promise<ExitCode> {
  const loose = parseArgs({ args: [...argv], strict: false, allowPositionals: true });
  const found = findVerb(loose.positionals);
  const json = loose.values.json === true;
  if (!found) {
    if (loose.positionals.length === 0 && loose.values.help === true) {
      io.stdout(`${generalHelp()}\n`);
      return EXIT.ok;
    }
    const what = loose.positionals.length === 0 ? 'no verb' : `unknown verb: ${loose.positionals.join(' ')}`;
    io.stderr(`irsp: ${what}\n\n${generalHelp()}\n`);
    return EXIT.usage;
  }
  const { verb } = found;
  let values: Record<string, string | boolean | undefined>;
  let args: string[];
  try {
    const strict = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: Object.fromEntries(
        Object.entries({ ...verb.options, ...GLOBAL }).map(([name, o]) => [name, { type: o.type }]),
      ),
    });
    values = strict.values;
    args = strict.positionals.slice(verb.words.length);
  } catch (error) {
    return fail(io, json, new CliError(EXIT.usage, `${(error as Error).message}\n\n${verbHelp(verb)}`));
  }
  if (values.help === true) {
    io.stdout(`${verbHelp(verb)}\n`);
    return EXIT.ok;
  }
  if (args.length !== verb.args.length) {
    const message = `${verb.words.join(' ')} takes ${verb.args.join(' ') || 'no arguments'}\n\n${verbHelp(verb)}`;
    return fail(io, json, new CliError(EXIT.usage, message));
  }
  let http: Http | undefined;
  try {
    if ('local' in verb) return output(io, json, await verb.local(io.stdin ?? (async () => '')));
    const path = (typeof values.manifest === 'string' ? values.manifest : undefined) ?? io.env.IRSP_MANIFEST;
    const { manifest, ca } = await loadManifest(path ?? DEFAULT_MANIFEST, io.cwd);
    const progress = stderrProgress(io.stderr, PROGRESS_AFTER_MS);
    http = new Http(ca, progress);
    const result = await verb.run(
      {
        manifest,
        http,
        operator: operatorFrom(io.env.IRSP_OPERATOR) ?? manifest.operator,
        note: io.stderr,
        emit: (line) => io.stdout(`${line}\n`),
        progress,
        json,
        signal: io.signal ?? new AbortController().signal,
      },
      args,
      values,
      ca,
    );
    return output(io, json, result);
  } catch (error) {
    if (error instanceof CliError) return fail(io, json, error);
    throw error;
  } finally {
    await http?.close();
  }
}

function output(io: Io, json: boolean, result: Result): ExitCode {
  if (json && result.json !== undefined) io.stdout(`${JSON.stringify(result.json, null, 2)}\n`);
  else if (!json && result.text) io.stdout(`${result.text}\n`);
  return result.exit;
}

function operatorFrom(value: string | undefined): { name: string; password: string } | undefined {
  const colon = value?.indexOf(':') ?? -1;
  return value && colon > 0 ? { name: value.slice(0, colon), password: value.slice(colon + 1) } : undefined;
}

/** A failure: the sentence on stderr, and with --json an object scripts can read on stdout. */
function fail(io: Io, json: boolean, error: CliError): ExitCode {
  io.stderr(`irsp: ${error.message}\n`);
  if (json) io.stdout(`${JSON.stringify({ error: error.message.split('\n')[0], exit: error.exit })}\n`);
  return error.exit;
}
