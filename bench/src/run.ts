/**
 * `pnpm bench`: starts each server for each scenario (fresh every time, pinned to its core), drives it with our
 * load generator, and writes bench/results/<date>.json, .md and .svg. See docs/performance.md.
 */
import { copyFile, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ensureServerCert } from '@irsp/config';
import { parseArgs } from './args.js';
import { ProcessMeter } from './load/procstat.js';
import { summarisePerf } from './report/perf.js';
import { topFunctions, type CpuProfile } from './report/profile.js';
import { writeReports } from './report/write.js';
import type { RunResult, ScenarioResult } from './report/types.js';
import { SCENARIOS } from './scenarios/index.js';
import type { ScenarioContext, Span } from './scenarios/context.js';
import { launchEjabberd } from './servers/ejabberd.js';
import { launchIrsp } from './servers/irsp.js';
import { PerfRecording } from './servers/perf-recording.js';
import { launchProsody } from './servers/prosody.js';
import { IDLE_OPEN_FILES } from './scenarios/idle.js';
import {
  debianVersion,
  ensurePackages,
  log,
  machine,
  pinning,
  raiseOpenFileLimit,
} from './servers/system.js';
import { DOMAIN, type LaunchOptions, type ServerName, type ServerUnderTest } from './servers/types.js';

const args = parseArgs(process.argv.slice(2));
const date = new Date().toISOString().slice(0, 10);
const work = resolve('bench', 'tmp', `run-${Date.now()}`);
const tlsDir = join(work, 'tls');
await mkdir(tlsDir, { recursive: true });
await ensureServerCert(tlsDir, 'xmpp', { dns: [DOMAIN], ip: ['127.0.0.1'] });
const tls = {
  dir: tlsDir,
  ca: join(tlsDir, 'ca.pem'),
  certFile: join(tlsDir, 'xmpp.pem'),
  keyFile: join(tlsDir, 'xmpp-key.pem'),
};
const ca = await readFile(tls.ca, 'utf8');
const { serverPrefix, pinned } = pinning();
// Before any server starts: they inherit this process's limit on open files, which `idle` needs high.
let openFilesShort: string | undefined;
if (args.scenarios.includes('idle')) {
  const { limit, shortBecause } = raiseOpenFileLimit(IDLE_OPEN_FILES);
  log(`open-file limit ${limit}${shortBecause ? ` (wanted ${IDLE_OPEN_FILES}: ${shortBecause})` : ''}`);
  if (shortBecause)
    openFilesShort = `open-file limit ${limit}, not the ${IDLE_OPEN_FILES} wanted: ${shortBecause}`;
}
ensurePackages(
  [
    { server: 'prosody', pkg: 'prosody', command: 'prosody' },
    { server: 'ejabberd', pkg: 'ejabberd', command: 'ejabberdctl' },
  ].filter((p) => args.servers.includes(p.server as ServerName)),
);
if (args.perf) ensurePackages([{ pkg: 'linux-perf', command: 'perf' }]);

const run: RunResult = {
  date,
  quick: args.quick,
  pinned,
  machine: machine(),
  versions: {},
  results: [],
};
const saltedPasswords = new Map<string, Buffer>();
let serial = 0;

async function launch(
  server: ServerName,
  requireTls: boolean,
  profileDir?: string,
  database?: string,
  smartlock?: boolean,
  cluster?: boolean,
): Promise<ServerUnderTest> {
  // A port found free can be taken before the server binds it (other tests on the machine, our own
  // outgoing connections): start again on fresh ports.
  for (let attempt = 1; ; attempt++) {
    const o: LaunchOptions = {
      dir: join(work, `${server}-${++serial}`),
      tls,
      prefix: serverPrefix,
      requireTls,
    };
    try {
      if (server === 'irsp')
        return await launchIrsp({ ...o, cpuProfileDir: profileDir, database, smartlock, cluster });
      return await (server === 'prosody' ? launchProsody(o) : launchEjabberd(o));
    } catch (error) {
      if (attempt === 3) throw error;
      log(`  ${server} did not start (${(error as Error).message}), again on other ports`);
    }
  }
}

for (const scenario of SCENARIOS.filter((s) => args.scenarios.includes(s.name))) {
  for (const server of args.servers) {
    const supported = scenario.supports(server);
    if (supported !== true) {
      run.results.push({
        scenario: scenario.name,
        server,
        variant: 'starttls',
        metrics: null,
        notes: [supported],
      });
      continue;
    }
    // Ours runs each variant on every database asked for: PGlite keeps the label, PostgreSQL adds `+postgres`.
    const variants = scenario
      .variants(server)
      .flatMap((v) =>
        server === 'irsp'
          ? args.irspDatabases
              .filter((db) => !v.postgresOnly || db === 'postgres')
              .map((db) =>
                db === 'postgres'
                  ? { ...v, label: `${v.label}+postgres`, database: args.database }
                  : { ...v, database: undefined },
              )
          : [{ ...v, database: undefined }],
      );
    if (variants.length === 0)
      run.results.push({
        scenario: scenario.name,
        server,
        variant: 'starttls',
        metrics: null,
        notes: ['runs on PostgreSQL only: give --database'],
      });
    for (const variant of variants) {
      const result: ScenarioResult = {
        scenario: scenario.name,
        server,
        variant: variant.label,
        metrics: null,
        notes: scenario.name === 'idle' && openFilesShort ? [openFilesShort] : [],
      };
      run.results.push(result);
      log(`${scenario.name} on ${server} (${variant.label})`);
      const profileDir =
        args.profile && server === 'irsp'
          ? join(work, `profile-${scenario.name}-${variant.label}`)
          : undefined;
      let sut: ServerUnderTest | undefined;
      let perf: PerfRecording | undefined;
      const spans: Span[] = [];
      try {
        sut = await launch(
          server,
          variant.requireTls,
          profileDir,
          variant.database,
          variant.smartlock,
          variant.cluster,
        );
        if (args.perf && server === 'irsp')
          perf = PerfRecording.start(sut.pid, join(work, `perf-${serial}.data`), join(work, 'perf.log'));
        run.versions[server] = sut.version;
        const ctx: ScenarioContext = {
          server: sut,
          quick: args.quick,
          meter: new ProcessMeter(sut.pid, '/proc', sut.databasePids?.bind(sut), sut.otherPids?.bind(sut)),
          ca,
          saltedPasswords,
          plain: !variant.requireTls,
          notes: result.notes,
          spans,
        };
        result.metrics = await scenario.run(ctx);
        log(`  ${JSON.stringify(result.metrics)}`);
      } catch (error) {
        result.notes.push(`failed: ${(error as Error).message}`);
        log(`  failed: ${(error as Error).stack ?? String(error)}`);
      } finally {
        await perf?.stop().catch((error: Error) => result.notes.push(`perf: ${error.message}`));
        await sut?.stop();
      }
      if (perf) {
        for (const span of spans) {
          const key = `${scenario.name} (${variant.label}): ${span.phase}`;
          await summarisePerf(perf.file, span)
            .then((native) => ((run.nativeProfiles ??= {})[key] = native))
            .catch((error: Error) => result.notes.push(`perf report of ${span.phase}: ${error.message}`));
        }
        await perf.remove();
      }
      if (profileDir) {
        const tops = await summariseProfile(profileDir, `${scenario.name}-${variant.label}`, spans);
        for (const [phase, top] of tops)
          (run.profiles ??= {})[`${scenario.name} (${variant.label})${phase ? `: ${phase}` : ''}`] = top;
      }
    }
  }
}
if (args.servers.includes('irsp')) run.versions.irsp ??= 'workspace';
for (const server of ['prosody', 'ejabberd'] as const) {
  if (args.servers.includes(server)) run.versions[server] ??= debianVersion(server) ?? 'not installed';
}

/**
 * The top functions of a scenario's profile in each of its measured windows (the whole profile, under phase '',
 * when it has none: `idle`); the raw .cpuprofile is kept in bench/tmp/profiles/ for DevTools.
 */
async function summariseProfile(dir: string, name: string, spans: readonly Span[]) {
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return [];
  const kept = resolve('bench', 'tmp', 'profiles');
  await mkdir(kept, { recursive: true });
  await copyFile(join(dir, files[0]!), join(kept, `${date}-${name}.cpuprofile`));
  const profile = JSON.parse(await readFile(join(dir, files[0]!), 'utf8')) as CpuProfile;
  if (spans.length === 0) return [['', topFunctions(profile)] as const];
  return spans.map((span) => [span.phase, topFunctions(profile, 15, span)] as const);
}

await mkdir(args.out, { recursive: true });
const base = join(args.out, args.quick ? `${date}-quick` : date);
await writeReports(base, run);
await rm(work, { recursive: true, force: true });
log(`wrote ${base}.json, .md and .svg`);
