/** The machine side of a run: free ports, CPU pinning, Debian packages and their versions. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { cpus, totalmem } from 'node:os';

export function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/**
 * Loopback ports free right now (the kernel's choice; never one of the fixed ports other tests use), held
 * open together while choosing: closed one by one, the kernel may hand out the same port again.
 */
export async function freePorts<const T extends readonly string[]>(
  names: T,
): Promise<Record<T[number], number>> {
  const servers = await Promise.all(
    Array.from(
      { length: names.length },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server, i) => {
    const address = server.address();
    return [names[i], typeof address === 'object' && address ? address.port : 0] as const;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return Object.fromEntries(ports) as Record<T[number], number>;
}

export async function waitForPort(port: number, timeoutMs = 60_000, host = '127.0.0.1'): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await sleep(200);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

/**
 * Server on core 0, load generator on core 1, so that the two do not steal each other's cycles (other work
 * on the machine still can). Returns the command prefix for a server, empty when pinning is not possible.
 */
export function pinning(): { serverPrefix: string[]; pinned: boolean } {
  if (cpus().length < 2 || !hasCommand('taskset')) return { serverPrefix: [], pinned: false };
  execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  return { serverPrefix: ['taskset', '-c', '0'], pinned: true };
}

/** Installs Debian packages that are missing; services are kept from starting on the fixed ports. */
export function ensurePackages(packages: readonly { pkg: string; command: string }[]): void {
  const missing = packages.filter((p) => !hasCommand(p.command)).map((p) => p.pkg);
  if (missing.length === 0) return;
  log(`installing ${missing.join(', ')} with apt-get`);
  // policy-rc.d exit 101 = "do not start services": the packages' own daemons would take 5222/5269/5280.
  const policy = '/usr/sbin/policy-rc.d';
  const hadPolicy = spawnSync('test', ['-e', policy]).status === 0;
  if (!hadPolicy)
    execFileSync('sh', ['-c', `printf '#!/bin/sh\\nexit 101\\n' > ${policy} && chmod +x ${policy}`]);
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } finally {
    if (!hadPolicy) execFileSync('rm', ['-f', policy]);
  }
}

export function debianVersion(pkg: string): string | null {
  const result = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}

/** The limits on open files (soft, hard) of a process, this one by default. */
export function openFileLimits(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line?.split(/\s+/).slice(3, 5) ?? []).map((v) =>
    v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v),
  );
  return { soft: soft || 1024, hard: hard || soft || 1024 };
}

/** The soft limit on open files of this process (or another), which the servers inherit. */
export function openFileLimit(pid: number | 'self' = 'self'): number {
  return openFileLimits(pid).soft;
}

/**
 * Raises this process's open-file limit to `wanted` (soft and hard) with prlimit(1), so that the load generator
 * and the servers it starts afterwards (which inherit it) can hold that many sockets. Raising the hard limit
 * needs CAP_SYS_RESOURCE; without it the soft limit goes up to the hard one at least. Returns what was reached
 * and, when short of `wanted`, why.
 */
export function raiseOpenFileLimit(wanted: number): { limit: number; shortBecause?: string } {
  const before = openFileLimits();
  if (before.soft >= wanted) return { limit: before.soft };
  let reason = 'prlimit(1) is not installed';
  if (hasCommand('prlimit')) {
    const pid = String(process.pid);
    const set = (n: number) =>
      spawnSync('prlimit', ['--pid', pid, `--nofile=${n}:${n}`], { encoding: 'utf8' });
    let result = set(wanted);
    if (result.status !== 0) {
      reason = `raising the hard limit ${before.hard} was refused (${result.stderr.trim() || 'prlimit failed'}; it needs CAP_SYS_RESOURCE)`;
      if (before.hard > before.soft) result = set(before.hard);
    }
  }
  const limit = openFileLimit();
  return limit >= wanted ? { limit } : { limit, shortBecause: reason };
}

export function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    cores: cpus().length,
    memoryMb: Math.round(totalmem() / 1024 / 1024),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    node: process.version,
    openFileLimit: openFileLimit(),
  };
}
