/**
 * Messages 14–15 from application servers of other ASs (clause 8.6; docs/decisions/0006-cross-as-exchange.md).
 * A caller is a configured peer, known by its `appid`; it proves itself with the signature over the request made
 * with the key shared with it, a fresh timestamp and an unused nonce (401 otherwise), and it must claim the AS
 * the configuration binds it to (403 otherwise), so no peer can speak for another AS. What it sends is received
 * like any exchange; a peer marked `push` has it pushed on to the user or device through our own message server —
 * clause 8.7's only path from another AS to our users and devices.
 */
import {
  formTimestampSchema,
  nonceSchema,
  type FormFields,
  type MessageDef,
  type Status,
} from '@irsp/protocol';
import type { ApplicationServerContext } from './context.js';
import { receive } from './receive.js';
import { push } from './send.js';
import { verifySigned } from './signed.js';

export interface SignedForm {
  method: string;
  path: string;
  /** The form as sent: the POST body, or the GET query string. */
  payload: string;
  signature: unknown;
}

export async function authenticatePeer(
  ctx: ApplicationServerContext,
  fields: FormFields,
  request: SignedForm,
): Promise<401 | 403 | undefined> {
  const peer = ctx.peers.find((p) => p.appid === fields.get('appid'));
  const timestamp = formTimestampSchema.safeParse(fields.get('timestamp'));
  const nonce = nonceSchema.safeParse(fields.get('nonce'));
  if (!peer || !timestamp.success || !nonce.success) return 401;
  const parts = { ...request, timestamp: timestamp.data, nonce: nonce.data };
  if (!(await verifySigned(ctx.nonces, `peer:${peer.appid}`, peer.key, parts, request.signature))) return 401;
  return fields.get('as') === peer.as ? undefined : 403;
}

export async function receiveFromPeer(
  ctx: ApplicationServerContext,
  message: MessageDef,
  params: Record<string, string>,
): Promise<Status> {
  await receive(ctx, message, params);
  const peer = ctx.peers.find((p) => p.appid === params.appid)!;
  if (!peer.push) return 200;
  const to = params.userid !== undefined ? { userid: params.userid } : { deviceid: params.deviceid! };
  const outcome = await push(ctx, to, params.data!);
  if (outcome.kind === 'status' && outcome.status === 200) return 200;
  // Table 7 has no 422: a user or device we do not have is a wrong parameter of the exchange.
  return outcome.kind === 'status' && outcome.status === 422 ? 400 : 500;
}
