/**
 * Section 6, Figures 4–5: the bidirectional negotiation of protocol type and protocol group, carried by
 * Authentication_ECDH_Req and _Rsp.
 *
 * (1) Consistent: the LBS supports the device's protocol type and shares a member of its group; it selects "the
 *     most secure protocol in the device's protocol group" and answers with that one member.
 * (2) Inconsistent: the LBS answers its own protocol type and group, and closes the TCP connection; a device that
 *     supports them authenticates again with them, otherwise it gives up.
 *
 * The draft does not rank the members; we rank a higher one as more secure (the bits read as successive,
 * stronger versions). It does not say what the consistent response's group holds (Figure 4 prints none); we send
 * the selected member alone, which tells the two cases apart: a response is consistent exactly when it repeats the
 * offered type and names one member of the offered group.
 */
import type { ProtocolGroup, ProtocolGroupMember } from './frame.js';

export interface ProtocolOffer {
  protocolType: number;
  protocolGroup: ProtocolGroup;
}

export type NegotiationOutcome =
  | { consistent: true; protocolType: number; selected: ProtocolGroupMember }
  | { consistent: false; protocolType: number; protocolGroup: ProtocolGroup };

const common = (a: ProtocolGroup, b: ProtocolGroup): ProtocolGroup => a.filter((m) => b.includes(m));

/** LBS side: what to answer an Authentication_ECDH_Req with (and, when inconsistent, to close after it). */
export function negotiate(lbs: ProtocolOffer, request: ProtocolOffer): NegotiationOutcome {
  const shared =
    request.protocolType === lbs.protocolType ? common(request.protocolGroup, lbs.protocolGroup) : [];
  const selected = shared.at(-1);
  return selected === undefined
    ? { consistent: false, protocolType: lbs.protocolType, protocolGroup: lbs.protocolGroup }
    : { consistent: true, protocolType: lbs.protocolType, selected };
}

/** The variable header an outcome travels in. */
export const responseOffer = (outcome: NegotiationOutcome): ProtocolOffer =>
  outcome.consistent
    ? { protocolType: outcome.protocolType, protocolGroup: [outcome.selected] }
    : { protocolType: outcome.protocolType, protocolGroup: outcome.protocolGroup };

/**
 * Device side: how an Authentication_ECDH_Rsp answered its offer, and — when inconsistent — the offer to retry
 * with on a new connection: the LBS's type and the members of its group the device supports, or undefined when
 * the device supports none (it "should give up authentication with the service").
 */
export function readNegotiation(
  device: readonly ProtocolOffer[],
  offered: ProtocolOffer,
  response: ProtocolOffer,
):
  | { consistent: true; selected: ProtocolGroupMember }
  | { consistent: false; retry: ProtocolOffer | undefined } {
  const [only, ...more] = response.protocolGroup;
  if (
    response.protocolType === offered.protocolType &&
    only !== undefined &&
    more.length === 0 &&
    offered.protocolGroup.includes(only)
  )
    return { consistent: true, selected: only };
  const supported = device.find((s) => s.protocolType === response.protocolType);
  const shared = supported === undefined ? [] : common(supported.protocolGroup, response.protocolGroup);
  return {
    consistent: false,
    retry: shared.length === 0 ? undefined : { protocolType: response.protocolType, protocolGroup: shared },
  };
}
