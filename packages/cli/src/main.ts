#!/usr/bin/env node
/** The `irsp` bin: run.ts on this process's arguments, streams and environment; Ctrl-C ends a `tail`. */
import { run } from './run.js';

const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
process.exitCode = await run(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  signal: stop.signal,
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
});
