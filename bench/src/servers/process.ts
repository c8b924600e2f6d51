/** A server as a child process: started with its log in a file, stopped with SIGTERM then SIGKILL. */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { sleep } from './system.js';

export class ServerProcess {
  private constructor(
    readonly child: ChildProcess,
    private exited: boolean,
  ) {}

  static start(
    command: readonly string[],
    options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string; ipc?: boolean },
  ): ServerProcess {
    const log = openSync(options.logFile, 'a');
    const child = spawn(command[0]!, command.slice(1), {
      stdio: options.ipc ? ['ignore', log, log, 'ipc'] : ['ignore', log, log],
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
    });
    const server = new ServerProcess(child, false);
    child.once('exit', () => {
      server.exited = true;
    });
    return server;
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('server process did not start');
    return this.child.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Resolves on the child's first IPC message, rejects if it exits first. */
  ready(timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready message within ${timeoutMs} ms`)), timeoutMs);
      this.child.once('message', (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code} before it was ready`));
      });
    });
  }

  /** Sends an IPC message and resolves on the child's next message (its answer). */
  ask(message: string | Record<string, string>, timeoutMs = 60_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer to ${JSON.stringify(message)} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.child.once('message', (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.child.send(message);
    });
  }

  /** SIGKILL: no shutdown path runs (the chaos scenario). Resolves once it has exited. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }

  async stop(graceMs = 15_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const killed = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (killed) {
      this.child.kill('SIGKILL');
      await exited;
    }
  }
}
