/**
 * Debian packages the tests talk to (Prosody, slixmpp, Chromium): installed with apt-get when missing, since the
 * tests run as root on a machine that has only Node and npm at first. Failing to install fails the test with what
 * apt-get said; a test never skips for want of one.
 */
import { spawnSync } from 'node:child_process';

export function ensureDebianPackage(name: string, present: () => boolean): void {
  if (present()) return;
  const attempts: string[] = [];
  for (const command of [
    ['apt-get', 'install', '-y', name],
    ['apt-get', 'update'],
    ['apt-get', 'install', '-y', name],
  ]) {
    const run = spawnSync(command[0]!, command.slice(1), {
      encoding: 'utf8',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    attempts.push(
      `$ ${command.join(' ')} → ${run.status ?? run.error?.message}\n${(run.stderr ?? '').slice(-2000)}`,
    );
    if (command[1] === 'install' && run.status === 0 && present()) return;
  }
  throw new Error(`${name} is not installed and could not be installed:\n${attempts.join('\n')}`);
}

export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0;
}
