/**
 * A real Prosody (Debian's package, 0.12) as a federation peer on loopback (docs/xmpp-engine-notes.md): installed with
 * apt-get when missing (the tests run as root; failing to install fails the test, it never skips), configured in a
 * temporary folder, users registered with prosodyctl, run in the foreground and stopped with SIGTERM.
 *
 * Its resolver (libunbound) reads no /etc/hosts: `unbound.hoststxt` gives it ours, so each server it talks to has
 * an address of its own, and SRV queries under those names are answered (NXDOMAIN) locally at once. Names under
 * `.localhost` cannot be given an address there (libunbound redirects that whole zone to 127.0.0.1). With no SRV
 * record it dials port 5269, so those servers listen on 5269 at their address.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ensureDebianPackage, onPath } from './debian.js';
import { tempDir } from './irsp.js';

export interface ProsodyOptions {
  domain: string;
  /** Its own loopback address: s2s listens there (5269), and its outgoing s2s leave from there. */
  address: string;
  /** c2s on 127.0.0.1 (where the test clients connect). */
  c2sPort: number;
  /** Certificate (and key) for its domain, and the CA it trusts for peers' certificates (`cafile`). */
  tls: { cert: string; key: string; ca: string };
  /** Name → address for its resolver. */
  hosts: Record<string, string>;
  users: { username: string; password: string }[];
  /** `s2s_secure_auth`: peers must authenticate with a certificate it trusts (SASL EXTERNAL). */
  secureAuth?: boolean;
}

export interface Prosody {
  /** Its log so far (debug level), for failure messages. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Makes sure `prosody` is on PATH, installing Debian's package when it is not. */
export function ensureProsody(): void {
  ensureDebianPackage('prosody', () => onPath('prosody') && onPath('prosodyctl'));
}

const lua = (value: string) => JSON.stringify(value);

export async function startProsody(options: ProsodyOptions): Promise<Prosody> {
  ensureProsody();
  const dir = await tempDir('irsp-prosody-');
  const path = (name: string) => join(dir.path, name);
  await mkdir(path('data'), { recursive: true });
  await mkdir(path('certs'), { recursive: true });
  const certFile = path(`certs/${options.domain}.crt`);
  const keyFile = path(`certs/${options.domain}.key`);
  await writeFile(certFile, options.tls.cert);
  await writeFile(keyFile, options.tls.key, { mode: 0o600 });
  await writeFile(path('ca.pem'), options.tls.ca);
  await writeFile(
    path('hosts'),
    Object.entries(options.hosts)
      .map(([name, address]) => `${address} ${name}\n`)
      .join(''),
  );
  const ssl = `{ certificate = ${lua(certFile)}; key = ${lua(keyFile)}; cafile = ${lua(path('ca.pem'))}; protocol = "tlsv1_2+" }`;
  const config = path('prosody.cfg.lua');
  await writeFile(
    config,
    [
      '-- Written by test/support/prosody.ts for one test run.',
      'run_as_root = true',
      'daemonize = false',
      `pidfile = ${lua(path('prosody.pid'))}`,
      `data_path = ${lua(path('data'))}`,
      `log = { debug = ${lua(path('prosody.log'))} }`,
      `interfaces = { ${lua(options.address)} }`,
      `local_interfaces = { ${lua(options.address)} }`,
      'c2s_interfaces = { "127.0.0.1" }',
      'use_ipv6 = false',
      `c2s_ports = { ${options.c2sPort} }`,
      'c2s_direct_tls_ports = {}',
      's2s_ports = { 5269 }',
      's2s_direct_tls_ports = {}',
      'http_ports = {}',
      'https_ports = {}',
      `unbound = { hoststxt = ${lua(path('hosts'))} }`,
      'c2s_require_encryption = true',
      's2s_require_encryption = true',
      `s2s_secure_auth = ${options.secureAuth ? 'true' : 'false'}`,
      'authentication = "internal_hashed"',
      'storage = "internal"',
      `certificates = ${lua(path('certs'))}`,
      `ssl = ${ssl}`,
      'modules_enabled = { "posix"; "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "offline" }',
      `VirtualHost ${lua(options.domain)}`,
      `  ssl = ${ssl}`,
      '',
    ].join('\n'),
  );
  for (const user of options.users) {
    const run = spawnSync(
      'prosodyctl',
      ['--config', config, 'register', user.username, options.domain, user.password],
      { encoding: 'utf8' },
    );
    if (run.status !== 0) {
      throw new Error(`prosodyctl register ${user.username} failed: ${run.stdout}${run.stderr}`);
    }
  }
  const log = async () => readFile(path('prosody.log'), 'utf8').catch(() => '(no log)');
  const child = spawn('prosody', ['-F', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    await stopChild(child, exited);
    await dir.remove();
  };
  try {
    await waitForPort('127.0.0.1', options.c2sPort, child);
    await waitForPort(options.address, 5269, child);
  } catch (error) {
    const text = `${(error as Error).message}\nprosody output:\n${output}\nlog:\n${await log()}`;
    await stop();
    throw new Error(text);
  }
  return { log, stop };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function waitForPort(
  host: string,
  port: number,
  child: ChildProcess,
  timeoutMs = 15_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prosody exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > end) throw new Error(`prosody is not listening on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
