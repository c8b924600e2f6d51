/** The Markdown report of a run: setting, one table per scenario (a column per server and variant), targets. */
import { SERVER_NAMES } from '../servers/types.js';
import { SCENARIO_NAMES } from '../scenarios/context.js';
import { checkTargets } from './targets.js';
import type { RunResult } from './types.js';

export function renderMarkdown(run: RunResult, chartFile: string): string {
  const lines = [
    `# Benchmark run ${run.date}${run.quick ? ' (quick mode: small counts, for development only)' : ''}`,
    '',
    `Machine: ${run.machine.cpuModel}, ${run.machine.cores} cores, ${run.machine.memoryMb} MB, Linux ${run.machine.kernel}, ` +
      `Node ${run.machine.node}, open-file limit ${run.machine.openFileLimit}. ` +
      `Servers pinned to core 0 and the load generator to core 1: ${run.pinned ? 'yes' : 'no (taskset missing)'}.`,
    `Versions: ${SERVER_NAMES.filter((s) => run.versions[s])
      .map((s) => `${s} ${run.versions[s]}`)
      .join(', ')}.`,
    '',
    `![server cost per unit of work](${chartFile})`,
    '',
  ];
  for (const scenario of SCENARIO_NAMES) {
    const results = run.results.filter((r) => r.scenario === scenario);
    if (results.length === 0) continue;
    const columns = results.map((r) => (r.variant === 'starttls' ? r.server : `${r.server} (${r.variant})`));
    const metrics = [...new Set(results.flatMap((r) => Object.keys(r.metrics ?? {})))];
    lines.push(
      `## ${scenario}`,
      '',
      `| metric | ${columns.join(' | ')} |`,
      `|---|${columns.map(() => '---:').join('|')}|`,
    );
    for (const metric of metrics) {
      const cells = results.map((r) => {
        const value = r.metrics?.[metric];
        return value === undefined || value === null ? '–' : String(value);
      });
      lines.push(`| ${metric} | ${cells.join(' | ')} |`);
    }
    const notes = results.flatMap((r) => r.notes.map((n) => `- ${r.server}: ${n}`));
    lines.push('', ...notes, ...(notes.length > 0 ? [''] : []));
  }
  lines.push('## Targets', '', '| target | measured | met |', '|---|---|---|');
  for (const check of checkTargets(run)) {
    lines.push(
      `| ${check.target} | ${check.measured} | ${check.met === null ? 'not measurable' : check.met ? 'yes' : '**no**'} |`,
    );
  }
  const profiles = { ...(run.profile ? { 'throughput (starttls)': run.profile } : {}), ...run.profiles };
  if (Object.keys(profiles).length > 0)
    lines.push(
      '',
      '## CPU profiles of our server',
      '',
      'Self time per function in each measured window (`--profile`; the whole run where a scenario has no window).',
      'Native work that Node does in I/O callbacks without JavaScript on the stack — TLS handshakes, decrypting',
      "what arrives, reading sockets — is sampled as `(idle)`: the window's server CPU read from /proc is in",
      "the scenario's figures above.",
    );
  for (const [name, entries] of Object.entries(profiles)) {
    lines.push('', `### \`${name}\``, '', '| function | self ms | share |', '|---|---:|---:|');
    for (const p of entries)
      lines.push(`| \`${p.function}\` | ${p.selfMs} | ${(p.selfShare * 100).toFixed(1)} % |`);
  }
  lines.push(...renderNativeProfiles(run));
  lines.push('');
  return lines.join('\n');
}

const percent = (value: number): string => `${value.toFixed(1)} %`;

function renderNativeProfiles(run: RunResult): string[] {
  const entries = Object.entries(run.nativeProfiles ?? {});
  if (entries.length === 0) return [];
  const lines = [
    '',
    '## Native profiles of our server (Linux perf)',
    '',
    '`--perf`: every thread of the process, native code included, in each measured window. "Where" shares are',
    'inclusive and overlap (JavaScript includes the system calls it makes); the function table is self time.',
    "Compiled JavaScript is not named here (V8's profile, `--profile`, names it): node's perf map names code",
    'by address and V8 moves and reuses code addresses, which made perf name the wrong functions.',
  ];
  for (const [name, profile] of entries) {
    lines.push(
      '',
      `### \`${name}\`: ${profile.cpuSeconds.toFixed(2)} CPU-s`,
      '',
      '| where | share |',
      '|---|---:|',
      ...profile.landmarks.map((l) => `| ${l.what} | ${percent(l.percent)} |`),
      '',
      '| function | object | self |',
      '|---|---|---:|',
      ...profile.top.map(
        (t) => `| \`${t.symbol.replaceAll('|', '\\|')}\` | ${t.object} | ${percent(t.percent)} |`,
      ),
    );
  }
  return lines;
}
