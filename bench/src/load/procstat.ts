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
  /** The command name (field 2, without its parentheses). */
  comm: string;
  /** utime + stime, clock ticks. */
  cpuTicks: number;
}

/** Parses /proc/PID/stat; the command name may contain spaces and parentheses, so fields count from the last `)`. */
export function parseStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  const pid = Number(text.slice(0, text.indexOf(' ')));
  const comm = text.slice(text.indexOf('(') + 1, close);
  // After ") ": field 3 (state) is index 0, so field n is index n - 3.
  const fields = text.slice(close + 2).split(' ');
  return { pid, ppid: Number(fields[1]), comm, cpuTicks: Number(fields[11]) + Number(fields[12]) };
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
  /** The server's CPU: its process tree and the database backends serving it (`dbCpuSeconds`). */
  cpuSeconds: number;
  rssKb: number;
  /** The part of cpuSeconds spent by the database server's backends serving our server (PostgreSQL). */
  dbCpuSeconds?: number;
  /** Every `postgres` process of the machine (other users' backends too): an upper bound, for reference. */
  allPostgresCpuSeconds?: number;
}

export class ProcessMeter {
  readonly clockTicks: number;

  /**
   * `databasePids`, when given, names the processes of a database server that serve this server (PostgreSQL
   * backends of its pool): their CPU counts as the server's, since PGlite does the same work inside the
   * process. Their RSS does not (PostgreSQL's shared buffers would count once per backend).
   */
  constructor(
    private readonly pid: number,
    private readonly proc = '/proc',
    private readonly databasePids?: () => Iterable<number>,
    /** Other processes of the server under test (a second message server, the NATS server of a cluster). */
    private readonly otherPids?: () => Iterable<number>,
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
    const roots = [this.pid, ...(this.otherPids?.() ?? [])];
    const tree = new Set(roots.flatMap((root) => descendants(root, parents)));
    for (const pid of tree) {
      ticks += stats.get(pid)?.cpuTicks ?? 0;
      try {
        rssKb += parseVmRssKb(readFileSync(`${this.proc}/${pid}/status`, 'utf8'));
      } catch {
        // Ended meanwhile.
      }
    }
    if (!this.databasePids) return { at: performance.now(), cpuSeconds: ticks / this.clockTicks, rssKb };
    let dbTicks = 0;
    for (const pid of new Set(this.databasePids())) {
      if (!tree.has(pid)) dbTicks += stats.get(pid)?.cpuTicks ?? 0;
    }
    let allPostgres = 0;
    for (const stat of stats.values()) if (stat.comm === 'postgres') allPostgres += stat.cpuTicks;
    return {
      at: performance.now(),
      cpuSeconds: (ticks + dbTicks) / this.clockTicks,
      rssKb,
      dbCpuSeconds: dbTicks / this.clockTicks,
      allPostgresCpuSeconds: allPostgres / this.clockTicks,
    };
  }
}

/** The CPU seconds and wall seconds between two samples (database figures when both samples have them). */
export function between(
  a: Sample,
  b: Sample,
): {
  cpuSeconds: number;
  wallSeconds: number;
  cpuShare: number;
  dbCpuSeconds?: number;
  allPostgresCpuSeconds?: number;
} {
  const cpuSeconds = b.cpuSeconds - a.cpuSeconds;
  const wallSeconds = (b.at - a.at) / 1000;
  const d = { cpuSeconds, wallSeconds, cpuShare: wallSeconds > 0 ? cpuSeconds / wallSeconds : 0 };
  if (a.dbCpuSeconds === undefined || b.dbCpuSeconds === undefined) return d;
  return {
    ...d,
    dbCpuSeconds: b.dbCpuSeconds - a.dbCpuSeconds,
    allPostgresCpuSeconds: (b.allPostgresCpuSeconds ?? 0) - (a.allPostgresCpuSeconds ?? 0),
  };
}

function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}
