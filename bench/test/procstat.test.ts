import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProcessMeter, between, descendants, parseStat, parseVmRssKb } from '../src/load/procstat.js';

// /proc/PID/stat of a process whose name contains ") (" — the reason fields count from the last parenthesis.
const STAT =
  '4242 (we(ird) (name) S 4200 4242 4200 0 -1 4194560 9001 0 0 0 1234 567 8 9 20 0 11 0 5000 999 888';

describe('/proc parsing', () => {
  it('reads pid, parent and utime + stime', () => {
    expect(parseStat(STAT)).toEqual({ pid: 4242, ppid: 4200, comm: 'we(ird) (name', cpuTicks: 1801 });
  });

  it('reads VmRSS in kB, 0 when absent', () => {
    expect(parseVmRssKb('Name:\tnode\nVmPeak:\t  900000 kB\nVmRSS:\t  123456 kB\nThreads:\t11\n')).toBe(
      123456,
    );
    expect(parseVmRssKb('Name:\tkthreadd\nThreads:\t1\n')).toBe(0);
  });

  it('finds every descendant of a process', () => {
    const parents = new Map([
      [10, 1],
      [11, 10],
      [12, 11],
      [13, 10],
      [20, 1],
    ]);
    expect(descendants(10, parents)).toEqual([10, 11, 13, 12]);
    expect(descendants(20, parents)).toEqual([20]);
  });

  it('sums CPU and RSS of a process tree from a /proc directory, and turns two samples into CPU seconds', () => {
    const proc = mkdtempSync(join(tmpdir(), 'proc-'));
    const write = (pid: number, ppid: number, utime: number, stime: number, rssKb: number) => {
      mkdirSync(join(proc, String(pid)));
      writeFileSync(
        join(proc, String(pid), 'stat'),
        `${pid} (p) S ${ppid} 0 0 0 -1 0 0 0 0 0 ${utime} ${stime} 0 0`,
      );
      writeFileSync(join(proc, String(pid), 'status'), `Name:\tp\nVmRSS:\t${rssKb} kB\n`);
    };
    write(100, 1, 250, 50, 1000);
    write(101, 100, 30, 20, 24);
    write(200, 1, 999, 999, 999);
    const meter = new ProcessMeter(100, proc);
    const sample = meter.sample();
    expect(sample.cpuSeconds).toBe(350 / meter.clockTicks);
    expect(sample.rssKb).toBe(1024);
    expect(between({ at: 1000, cpuSeconds: 1.5, rssKb: 0 }, { at: 3000, cpuSeconds: 2.5, rssKb: 0 })).toEqual(
      {
        cpuSeconds: 1,
        wallSeconds: 2,
        cpuShare: 0.5,
      },
    );
  });

  it("adds the CPU of the database backends serving the server (not their RSS), and every postgres process's apart", () => {
    const proc = mkdtempSync(join(tmpdir(), 'proc-'));
    const write = (pid: number, ppid: number, comm: string, ticks: number) => {
      mkdirSync(join(proc, String(pid)));
      writeFileSync(
        join(proc, String(pid), 'stat'),
        `${pid} (${comm}) S ${ppid} 0 0 0 -1 0 0 0 0 0 ${ticks} 0 0 0`,
      );
      writeFileSync(join(proc, String(pid), 'status'), `Name:\t${comm}\nVmRSS:\t100 kB\n`);
    };
    write(100, 1, 'node', 300);
    write(500, 1, 'postgres', 1000); // the postmaster
    write(501, 500, 'postgres', 40); // a backend of ours
    write(502, 500, 'postgres', 7); // someone else's
    const meter = new ProcessMeter(100, proc, () => [501, 501, 100]);
    const sample = meter.sample();
    expect(sample.cpuSeconds).toBe(340 / meter.clockTicks);
    expect(sample.dbCpuSeconds).toBe(40 / meter.clockTicks);
    expect(sample.allPostgresCpuSeconds).toBe(1047 / meter.clockTicks);
    expect(sample.rssKb).toBe(100);
    const later = { at: 3000, cpuSeconds: 5, rssKb: 0, dbCpuSeconds: 2, allPostgresCpuSeconds: 9 };
    expect(
      between({ ...later, at: 1000, cpuSeconds: 1, dbCpuSeconds: 0.5, allPostgresCpuSeconds: 3 }, later),
    ).toEqual({
      cpuSeconds: 4,
      wallSeconds: 2,
      cpuShare: 2,
      dbCpuSeconds: 1.5,
      allPostgresCpuSeconds: 6,
    });
  });
});
