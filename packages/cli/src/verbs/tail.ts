/**
 * `irsp tail APP`: what an application server's recorder receives (Messages 8–11 and 14–15), as it arrives: it
 * asks `GET /received?after=` every second until interrupted (`--once`: what is there, then exits).
 */
import { RECORDER_RECEIVED_PATH, recorderReceivedAnswerSchema, recorderUrl } from '@irsp/protocol';
import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import { operatorAuthorization } from '@irsp/credentials';
import { EXIT, usageError } from '../exit.js';
import { applicationServer, type Context, type Result } from '../context.js';

type Received = z.infer<typeof recorderReceivedAnswerSchema>['received'][number];

export const TAIL_POLL_MS = 1_000;

export function receivedLine(r: Received): string {
  const params = Object.entries(r.params)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  return `${r.receivedAt}  #${r.id}  Message ${r.message} (${r.operation})  ${params}`;
}

export async function tail(
  ctx: Context,
  ref: string,
  options: { after?: string; once?: boolean },
): Promise<Result> {
  const server = applicationServer(ctx, ref);
  let after = Number(options.after ?? 0);
  if (!Number.isInteger(after) || after < 0) throw usageError('--after must be a whole number');
  const { appid, token } = server.credentials;
  const authorization = operatorAuthorization(appid, token);
  const seen: Received[] = [];
  if (!options.once) ctx.note(`irsp: following ${server.name}@${server.domain} (Ctrl-C stops)\n`);
  for (;;) {
    const url = recorderUrl(server.url, RECORDER_RECEIVED_PATH, { after });
    const { received } = await ctx.http.json(recorderReceivedAnswerSchema, 'GET', url, authorization);
    for (const r of received) {
      ctx.emit(ctx.json ? JSON.stringify(r) : receivedLine(r));
      after = r.id;
    }
    seen.push(...received);
    if (options.once || ctx.signal.aborted) break;
    try {
      await sleep(TAIL_POLL_MS, undefined, { signal: ctx.signal });
    } catch {
      break;
    }
  }
  // Each message was written as it came: nothing more to print at the end.
  return {
    exit: EXIT.ok,
    json: undefined,
    text: seen.length === 0 && options.once ? 'nothing received' : '',
  };
}
