/**
 * `irsp push` (Messages 12–13) and `irsp exchange` (Messages 14–15, within an AS or signed across ASs, clause 8.6),
 * through the sending application server's operator interface `POST /send` and its own credentials.
 */
import { RECORDER_SEND_PATH, recorderSendAnswerSchema, recorderUrl, type RecorderSend } from '@irsp/protocol';
import { operatorAuthorization } from '@irsp/credentials';
import { EXIT, usageError } from '../exit.js';
import { applicationServer, splitId, type Context, type Result } from '../context.js';
import { parseJson } from '../http.js';

type Server = ReturnType<typeof applicationServer>;

async function send(ctx: Context, from: Server, body: RecorderSend, what: string): Promise<Result> {
  const url = recorderUrl(from.url, RECORDER_SEND_PATH);
  const { appid, token } = from.credentials;
  const authorization = operatorAuthorization(appid, token);
  const answer = await ctx.http.send('POST', url, { authorization, json: body });
  const outcome = parseJson(recorderSendAnswerSchema, answer.body, url);
  const delivered = answer.status === 200;
  const said =
    outcome.outcome === 'refused'
      ? `refused by ${from.name}@${from.domain}: ${outcome.reason ?? answer.status}`
      : outcome.outcome === 'unreachable'
        ? `receiver unreachable: ${outcome.detail ?? ''}`
        : `receiver answered ${outcome.status ?? answer.status}${outcome.detail ? ` ${outcome.detail}` : ''}`;
  return {
    exit: delivered ? EXIT.ok : answer.status === 401 ? EXIT.unauthorized : EXIT.failed,
    json: { message: body.message, from: `${from.name}@${from.domain}`, status: answer.status, ...outcome },
    text: `Message ${body.message} ${what}: ${delivered ? 'delivered (200)' : said}`,
  };
}

/** `push FROM ID DATA`: FROM an application server, ID a user (Message 12) or device (Message 13) of its AS. */
export async function push(ctx: Context, fromRef: string, id: string, data: string): Promise<Result> {
  const from = applicationServer(ctx, fromRef);
  const target = splitId(id);
  if (target.domain !== from.domain)
    throw usageError(`${id} is not of ${from.domain}: an application server pushes within its own AS`);
  return send(ctx, from, { message: target.device ? 13 : 12, id: target.local, data }, `to ${id}`);
}

/** `exchange FROM TO ID DATA`: about user ID (Message 14) or device ID (Message 15), to TO in its AS or another. */
export async function exchange(
  ctx: Context,
  fromRef: string,
  toRef: string,
  id: string,
  data: string,
): Promise<Result> {
  const from = applicationServer(ctx, fromRef);
  const to = applicationServer(ctx, toRef.includes('@') ? toRef : `${toRef}@${from.domain}`);
  const about = splitId(id);
  const body: RecorderSend = {
    message: about.device ? 15 : 14,
    id: about.local,
    data,
    to: to.name,
    ...(to.domain !== from.domain ? { as: to.domain } : {}),
  };
  return send(ctx, from, body, `from ${from.name}@${from.domain} to ${to.name}@${to.domain} about ${id}`);
}
