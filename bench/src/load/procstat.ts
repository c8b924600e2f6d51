/**
 * What a server process costs, read from /proc as the issue asks: CPU = utime + stime of the process and its
 * descendants (/proc/PID/stat fields 14 and 15, in clock ticks), memory = VmRSS (/proc/PID/status). Summing the
 * tree covers servers that run helper processes (ejabberd's erl_child_setup, a shell wrapper).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, clock ticks. */
  cpuTicks: number;
}

/** Parses /proc/PID/stat; the command name may contain spaces and parentheses, so fields count from the last `)`. */
export function parseStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  const pid = Number(text.slice(0, text.indexOf(' ')));
  // After ") ": field 3 (state) is index 0, so field n is index n - 3.
  const fields = text.slice(close + 2).split(' ');
  return { pid, ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** VmRSS of /proc/PID/status in kB (0 for a kernel thread or a zombie, which have none). */
export function parseVmRssKb(status: string): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match ? Number(match[1]) : 0;
}

/** `pid` and every descendant, given each process's parent. */
export function descendants(pid: number, parents: ReadonlyMap<number, number>): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

export interface Sample {
  at: number;
  cpuSeconds: number;
  rssKb: number;
}

export class ProcessMeter {
  readonly clockTicks: number;

  constructor(
    private readonly pid: number,
    private readonly proc = '/proc',
  ) {
    this.clockTicks = clockTicksPerSecond();
  }

  sample(): Sample {
    const stats = new Map<number, ProcStat>();
    for (const entry of readdirSync(this.proc)) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = parseStat(readFileSync(`${this.proc}/${entry}/stat`, 'utf8'));
        stats.set(stat.pid, stat);
      } catch {
        // The process ended between readdir and read.
      }
    }
    const parents = new Map([...stats.values()].map((s) => [s.pid, s.ppid]));
    let ticks = 0;
    let rssKb = 0;
    for (const pid of descendants(this.pid, parents)) {
      ticks += stats.get(pid)?.cpuTicks ?? 0;
      try {
        rssKb += parseVmRssKb(readFileSync(`${this.proc}/${pid}/status`, 'utf8'));
      } catch {
        // Ended meanwhile.
      }
    }
    return { at: performance.now(), cpuSeconds: ticks / this.clockTicks, rssKb };
  }
}

/** The CPU seconds and wall seconds between two samples. */
export function between(a: Sample, b: Sample): { cpuSeconds: number; wallSeconds: number; cpuShare: number } {
  const cpuSeconds = b.cpuSeconds - a.cpuSeconds;
  const wallSeconds = (b.at - a.at) / 1000;
  return { cpuSeconds, wallSeconds, cpuShare: wallSeconds > 0 ? cpuSeconds / wallSeconds : 0 };
}

function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}
