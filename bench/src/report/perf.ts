/**
 * Summarises a Linux perf recording of our server (`--perf`) over a measured window. V8's profile sees only
 * JavaScript; perf sees every thread and native code too (OpenSSL's handshakes, the kernel's sockets, PBKDF2 on
 * libuv's thread pool, V8's garbage collector and compiler), which is where the logins' and registrations' CPU
 * goes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Span } from '../scenarios/context.js';

const execFileAsync = promisify(execFile);

export interface NativeProfile {
  /** CPU seconds of the server's threads in the window, as perf counted them (cpu-clock). */
  cpuSeconds: number;
  /** Inclusive percentages of the window's CPU: a sample counts for every landmark on its call chain. */
  landmarks: { what: string; percent: number }[];
  /** Self percentages by function. */
  top: { symbol: string; object: string; percent: number }[];
}

/** Frames that say what a sample was doing, matched anywhere on its call chain; shares may overlap. */
export const LANDMARKS: readonly { what: string; symbol: RegExp }[] = [
  { what: 'JavaScript, and what it calls', symbol: /^Builtins_JSEntry$/ },
  { what: 'OpenSSL: TLS handshakes', symbol: /^state_machine(\.part\.\d+)?$/ },
  { what: 'OpenSSL: TLS record encryption', symbol: /^(ssl3_write_bytes|tls_write_records)$/ },
  { what: 'PBKDF2', symbol: /^(PKCS5_PBKDF2_HMAC|kdf_pbkdf2_derive)$/ },
  { what: 'system calls', symbol: /^entry_SYSCALL_64(_after_hwframe)?$/ },
  { what: 'V8 garbage collection on the main thread', symbol: /^v8::internal::Heap::CollectGarbage\b/ },
  { what: "V8's background threads (marking, compiling)", symbol: /PlatformWorkerThread/ },
  { what: "libuv's thread pool", symbol: /^worker$/ },
];

/** The approximate event count of a perf report header: cpu-clock counts nanoseconds. */
export function parseEventCount(report: string): number {
  const match = /^# Event count \(approx\.\): (\d+)$/m.exec(report);
  return match ? Number(match[1]) : 0;
}

/** `perf report --children --sort sym -g none`: inclusive percentage per landmark (the largest of its frames). */
export function parseLandmarks(report: string): NativeProfile['landmarks'] {
  const children = new Map<string, number>();
  for (const line of report.split('\n')) {
    const match = /^\s+([\d.]+)%\s+[\d.]+%\s+\[[.k]\]\s+(.+?)\s*$/.exec(line);
    if (match) children.set(match[2]!, Number(match[1]));
  }
  return LANDMARKS.map(({ what, symbol }) => {
    let percent = 0;
    for (const [name, value] of children) if (symbol.test(name)) percent = Math.max(percent, value);
    return { what, percent };
  });
}

/** `perf report --no-children --sort dso,sym -g none`: self percentage per function, as perf ordered them. */
export function parseTop(report: string, limit: number): NativeProfile['top'] {
  const top: NativeProfile['top'] = [];
  for (const line of report.split('\n')) {
    const match = /^\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$/.exec(line);
    if (match) top.push({ symbol: match[3]!, object: match[2]!, percent: Number(match[1]) });
    if (top.length === limit) break;
  }
  return top;
}

async function perfReport(file: string, span: Span, args: readonly string[]): Promise<string> {
  const time = `${(span.fromMicros / 1e6).toFixed(6)},${(span.toMicros / 1e6).toFixed(6)}`;
  const { stdout } = await execFileAsync(
    'perf',
    ['report', '-i', file, '--time', time, '--stdio', '-g', 'none', ...args],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  return stdout;
}

/** The native profile of a recording (made with --clockid monotonic, like the bench's spans) within a span. */
export async function summarisePerf(file: string, span: Span, limit = 15): Promise<NativeProfile> {
  const self = await perfReport(file, span, ['--no-children', '--sort', 'dso,sym']);
  const children = await perfReport(file, span, ['--children', '--sort', 'sym', '--percent-limit', '0.5']);
  return {
    cpuSeconds: parseEventCount(self) / 1e9,
    landmarks: parseLandmarks(children),
    top: parseTop(self, limit),
  };
}
