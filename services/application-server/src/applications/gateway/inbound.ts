/**
 * The gateway's inbound side (clause 8.8, Table 8): a third party's signed JSON request becomes Message 12/13
 * (a push through our message server) or 14/15 (an exchange with an application server of the AS). Checks in
 * order: third party known (401) and calling from an allowed address (403) — before the body is read —; then
 * JSON (400); authentication: appid, timestamp window, signature, unused nonce (401); Table 8's parameters (400);
 * the message and target allowed (403). docs/protocol.md, "Table 8 (our definition)".
 */
import type { ThirdPartyConfig } from '@irsp/config';
import type { SendOutcome } from '@irsp/http';
import {
  thirdPartyAuthSchema,
  thirdPartyExchangeSchema,
  thirdPartyMessage,
  thirdPartyPushSchema,
  type Status,
  type ThirdPartyOperation,
} from '@irsp/protocol';
import type { ApplicationServerContext } from '../../context.js';
import { exchangeInAs, push, type Addressee } from '../../send.js';
import { verifySigned } from '../../signed.js';
import { addressAllowList } from './addresses.js';

export interface ThirdParty {
  config: ThirdPartyConfig;
  allowsAddress: (address: string) => boolean;
}

export interface Gateway {
  thirdParties: ReadonlyMap<string, ThirdParty>;
}

export function gatewayOf(thirdParties: readonly ThirdPartyConfig[]): Gateway {
  return {
    thirdParties: new Map(
      thirdParties.map((t) => [t.name, { config: t, allowsAddress: addressAllowList(t.allow.addresses) }]),
    ),
  };
}

/** Before the body is read: who it is, and whether it may call from where it does. */
export function admit(gateway: Gateway, name: string, address: string): ThirdParty | 401 | 403 {
  const thirdParty = gateway.thirdParties.get(name);
  if (!thirdParty) return 401;
  return thirdParty.allowsAddress(address) ? thirdParty : 403;
}

export interface SignedBody {
  method: string;
  path: string;
  body: Buffer;
  signature: unknown;
}

export async function handleInbound(
  ctx: ApplicationServerContext,
  thirdParty: ThirdPartyConfig,
  operation: ThirdPartyOperation,
  request: SignedBody,
): Promise<Status> {
  let json: unknown;
  try {
    json = JSON.parse(request.body.toString('utf8'));
  } catch {
    return 400;
  }
  const auth = thirdPartyAuthSchema.safeParse(json);
  if (!auth.success || auth.data.appid !== thirdParty.appid) return 401;
  const { timestamp, nonce } = auth.data;
  const parts = { method: request.method, path: request.path, timestamp, nonce, payload: request.body };
  if (
    !(await verifySigned(
      ctx.nonces,
      `thirdparty:${thirdParty.name}`,
      thirdParty.key,
      parts,
      request.signature,
    ))
  )
    return 401;
  if (operation === 'push') {
    const parsed = thirdPartyPushSchema.safeParse(json);
    if (!parsed.success) return 400;
    if (!allowed(thirdParty, thirdPartyMessage(operation, parsed.data))) return 403;
    return answer(await push(ctx, addressee(parsed.data), parsed.data.data), [400, 422]);
  }
  const parsed = thirdPartyExchangeSchema.safeParse(json);
  if (!parsed.success) return 400;
  const target = ctx.localServers.find((s) => s.name === parsed.data.to);
  if (!allowed(thirdParty, thirdPartyMessage(operation, parsed.data)) || !target) return 403;
  if (!thirdParty.allow.targets.includes(target.name)) return 403;
  // The receiver learns whose call it is from `thirdparty` (docs/protocol.md), vouched for by our appid and token.
  const outcome = await exchangeInAs(ctx, target, addressee(parsed.data), parsed.data.data, {
    thirdParty: thirdParty.name,
  });
  return answer(outcome, [400]);
}

function allowed(thirdParty: ThirdPartyConfig, message: number): boolean {
  return (thirdParty.allow.messages as readonly number[]).includes(message);
}

function addressee(params: { userid: string } | { deviceid: string }): Addressee {
  return 'userid' in params ? { userid: params.userid } : { deviceid: params.deviceid };
}

/** The receiver's 200 and the refusals that are the third party's to fix pass through; anything else is ours. */
function answer(outcome: SendOutcome, passed: readonly Status[]): Status {
  if (outcome.kind !== 'status') return 500;
  return outcome.status === 200 || passed.includes(outcome.status) ? outcome.status : 500;
}
