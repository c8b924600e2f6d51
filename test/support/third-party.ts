/** A third-party server calling the gateway to third-party servers (clause 8.8, Table 8), signed as it must be. */
import { request } from 'undici';
import type { ApplicationServerConfig } from '@irsp/config';
import { SIGNATURE_HEADER, newNonce, nowSeconds, sign, thirdPartyPath } from '@irsp/protocol';
import type { TestClient } from './irsp.js';

export interface ThirdPartyCall {
  /** The third party's name in the path. */
  name: string;
  /** The appid in the body (a test may make it differ from the name). */
  appid: string;
  key: string;
  /** The body's fields besides version, appid, timestamp and nonce. */
  fields: Record<string, unknown>;
  /** push or exchange; anything else to test refusals. */
  operation?: string;
  timestamp?: number;
  nonce?: string;
  /** Replaces the computed signature; null sends none. */
  signature?: string | null;
  /** Replaces the JSON body. */
  raw?: string;
  contentType?: string;
}

/** Posts a Table 8 request to the gateway, signed over the body's bytes, and gives its exact answer. */
export async function callGateway(
  http: TestClient,
  gateway: ApplicationServerConfig,
  call: ThirdPartyCall,
): Promise<{ status: number; body: string }> {
  const timestamp = call.timestamp ?? nowSeconds();
  const nonce = call.nonce ?? newNonce();
  const body =
    call.raw ?? JSON.stringify({ version: '1', appid: call.appid, timestamp, nonce, ...call.fields });
  const path = thirdPartyPath(call.name, 'push').replace(/push$/, call.operation ?? 'push');
  const signature =
    call.signature === undefined
      ? sign(call.key, { method: 'POST', path, timestamp, nonce, payload: body })
      : call.signature;
  const answer = await request(`${gateway.url}${path}`, {
    method: 'POST',
    dispatcher: http.agent,
    headers: {
      'content-type': call.contentType ?? 'application/json',
      ...(signature === null ? {} : { [SIGNATURE_HEADER]: signature }),
    },
    body,
  });
  return { status: answer.statusCode, body: await answer.body.text() };
}
