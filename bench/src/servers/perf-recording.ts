/**
 * `--perf`: Linux perf records our server's process (every thread, call chains) on the monotonic clock the
 * bench stamps its measured windows with, so that report/perf.ts can cut the recording to each window.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { sleep } from './system.js';

/** Samples per second and thread: enough for a few thousand samples in a window of seconds. */
const FREQUENCY = 999;

export class PerfRecording {
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly perf: ChildProcess,
    readonly file: string,
  ) {
    this.exited = new Promise((resolve) => {
      perf.once('exit', (code) => resolve(code));
      // perf that cannot be started leaves no recording: the reports of its windows say so in the run's notes.
      perf.once('error', () => resolve(null));
    });
  }

  static start(serverPid: number, file: string, logFile: string): PerfRecording {
    const log = openSync(logFile, 'a');
    const perf = spawn(
      'perf',
      [
        'record',
        '-F',
        String(FREQUENCY),
        '-g',
        '--clockid',
        'monotonic',
        '-p',
        String(serverPid),
        '-o',
        file,
      ],
      { stdio: ['ignore', log, log] },
    );
    return new PerfRecording(perf, file);
  }

  /** Ends the recording (SIGINT makes perf write its file) and resolves when the file is complete. */
  async stop(): Promise<void> {
    this.perf.kill('SIGINT');
    const code = await Promise.race([this.exited, sleep(60_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      this.perf.kill('SIGKILL');
      throw new Error('perf record did not stop within 60 s');
    }
  }

  async remove(): Promise<void> {
    await rm(this.file, { force: true });
  }
}
