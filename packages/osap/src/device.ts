/**
 * Section 6 a)–b) and section 7 from the device's side (Figures 4–8): negotiation and first authentication, or
 * re-authentication, then getting the DAS address, as one pure step function over the device's state. The caller
 * does the I/O: it opens the TLS connection to the LBS, feeds each control message in (frameLength splits the
 * stream), writes what `send` holds, closes when `close` says so, and keeps `device` (DevID, master key) across
 * restarts. Randomness (ECDH key pairs, challenges, nonces) comes from node:crypto.
 *
 *   disconnected ─connected→ negotiating ─ECDH_Rsp consistent→ applyingDevId ─apply_devid_Rsp→ gettingAccessService
 *        ↑ │                      └─ECDH_Rsp inconsistent→ disconnected (retry offer) or failed     │
 *        │ └─connected, with DevID and master key→ refreshing ─Refresh_SessionKey_Rsp→ ─────────────┤
 *        └──────────────────────────────────── disconnected ←─── ready ←─Get_AccessService_Rsp──────┘
 */
import { randomBytes } from 'node:crypto';
import { OsapError } from './errors.js';
import { parseFrame, type ControlMessageType } from './frame.js';
import { createEcdhKeyPair, masterKey, type EcdhKeyPair } from './keys.js';
import {
  CHALLENGE_BYTES,
  buildAuthMessage,
  openAuthMessage,
  type AuthMessage,
  type AuthMessageOf,
  type DasAddress,
} from './messages.js';
import { readNegotiation, type ProtocolOffer } from './negotiation.js';

/** What a device keeps: given at manufacture (serial number, share key, protocols) and learnt (DevID, master key). */
export interface DeviceCredentials {
  serialNumber: string;
  /** shareKey(verification code, serial number). */
  shareKey: Uint8Array;
  /** The protocol types the device speaks, each with its group; the first is offered first. */
  supports: readonly ProtocolOffer[];
  devId?: string;
  masterKey?: Uint8Array;
}

export type DeviceState =
  | { phase: 'disconnected'; device: DeviceCredentials; offer?: ProtocolOffer; retried: boolean }
  | {
      phase: 'negotiating';
      device: DeviceCredentials;
      offer: ProtocolOffer;
      keyPair: EcdhKeyPair;
      retried: boolean;
    }
  | { phase: 'applyingDevId'; device: DeviceCredentials; challenge: Uint8Array }
  | { phase: 'refreshing'; device: DeviceCredentials; challenge: Uint8Array }
  | {
      phase: 'gettingAccessService';
      device: DeviceCredentials;
      sessionKey: Uint8Array;
      challenge: Uint8Array;
    }
  | { phase: 'ready'; device: DeviceCredentials; sessionKey: Uint8Array; das: DasAddress }
  | { phase: 'failed'; device: DeviceCredentials; error: OsapError };

export type DeviceEvent =
  { kind: 'connected' } | { kind: 'received'; bytes: Uint8Array } | { kind: 'disconnected' };

export interface DeviceStep {
  state: DeviceState;
  /** Control messages to write, in order. */
  send: Uint8Array[];
  /** Whether to close the connection after writing them. */
  close: boolean;
}

export const initialDeviceState = (device: DeviceCredentials): DeviceState => ({
  phase: 'disconnected',
  device,
  retried: false,
});

const newChallenge = () => new Uint8Array(randomBytes(CHALLENGE_BYTES));
const step = (state: DeviceState, send: Uint8Array[] = [], close = false): DeviceStep => ({
  state,
  send,
  close,
});
const failed = (device: DeviceCredentials, error: OsapError): DeviceStep =>
  step({ phase: 'failed', device, error }, [], true);
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

function connect(state: Extract<DeviceState, { phase: 'disconnected' }>): DeviceStep {
  const { device } = state;
  if (device.devId !== undefined && device.masterKey !== undefined) {
    const challenge = newChallenge();
    const request = { type: 'Refresh_SessionKey_Req', devId: device.devId, challenge } as const;
    return step({ phase: 'refreshing', device, challenge }, [buildAuthMessage(device.masterKey, request)]);
  }
  const offer = state.offer ?? device.supports[0];
  if (offer === undefined)
    return failed(device, new OsapError('invalid-input', 'the device supports no protocol'));
  const keyPair = createEcdhKeyPair();
  const request = {
    type: 'Authentication_ECDH_Req',
    ...offer,
    serialNumber: device.serialNumber,
    devicePublicKey: keyPair.publicKey,
  } as const;
  return step({ phase: 'negotiating', device, offer, keyPair, retried: state.retried }, [
    buildAuthMessage(device.shareKey, request),
  ]);
}

/** The key the message expected in this phase is sealed under, and its type. */
function expected(state: DeviceState): { type: ControlMessageType; key: Uint8Array } | undefined {
  switch (state.phase) {
    case 'negotiating':
      return { type: 'Authentication_ECDH_Rsp', key: state.device.shareKey };
    case 'applyingDevId':
      return { type: 'Authentication_apply_devid_Rsp', key: state.device.masterKey! };
    case 'refreshing':
      return { type: 'Refresh_SessionKey_Rsp', key: state.device.masterKey! };
    case 'gettingAccessService':
      return { type: 'Get_AccessService_Rsp', key: state.sessionKey };
    default:
      return undefined;
  }
}

function receive(state: DeviceState, message: AuthMessage): DeviceStep {
  const { device } = state;
  const answers = (challenge: Uint8Array) =>
    'challenge' in message && sameBytes(message.challenge, challenge)
      ? undefined
      : failed(device, new OsapError('unexpected-message', 'the response does not answer our challenge'));
  const getAccessService = (next: DeviceCredentials, sessionKey: Uint8Array, before: Uint8Array[] = []) => {
    const challenge = newChallenge();
    const request = buildAuthMessage(sessionKey, { type: 'Get_AccessService_Req', challenge });
    return step({ phase: 'gettingAccessService', device: next, sessionKey, challenge }, [...before, request]);
  };
  switch (state.phase) {
    case 'negotiating': {
      const response = message as AuthMessageOf<'Authentication_ECDH_Rsp'>;
      const outcome = readNegotiation(device.supports, state.offer, response);
      if (!outcome.consistent) {
        if (outcome.retry === undefined || state.retried)
          return failed(device, new OsapError('negotiation-failed', 'no protocol in common with the LBS'));
        return step({ phase: 'disconnected', device, offer: outcome.retry, retried: true }, [], true);
      }
      if (response.lbsPublicKey === undefined)
        return failed(device, new OsapError('malformed', 'a consistent response without lbs_publickey'));
      const master = masterKey(state.keyPair.privateKey, response.lbsPublicKey);
      if (!master.ok) return failed(device, master.error);
      const challenge = newChallenge();
      const next = { ...device, masterKey: master.value };
      const request = buildAuthMessage(master.value, { type: 'Authentication_apply_devid_Req', challenge });
      return step({ phase: 'applyingDevId', device: next, challenge }, [request]);
    }
    case 'applyingDevId': {
      const response = message as AuthMessageOf<'Authentication_apply_devid_Rsp'>;
      const refused = answers(state.challenge);
      if (refused) return refused;
      const next = { ...device, devId: response.devId };
      const confirm = buildAuthMessage(response.sessionKey, {
        type: 'Authentication_apply_devid_Cfm',
        devId: response.devId,
      });
      return getAccessService(next, response.sessionKey, [confirm]);
    }
    case 'refreshing': {
      const response = message as AuthMessageOf<'Refresh_SessionKey_Rsp'>;
      return answers(state.challenge) ?? getAccessService(device, response.sessionKey);
    }
    case 'gettingAccessService': {
      const response = message as AuthMessageOf<'Get_AccessService_Rsp'>;
      return (
        answers(state.challenge) ??
        step({ phase: 'ready', device, sessionKey: state.sessionKey, das: response.das }, [], true)
      );
    }
    default:
      return failed(device, new OsapError('unexpected-message', `nothing expected in phase ${state.phase}`));
  }
}

/** One step of the device: never throws for anything the LBS sends. */
export function deviceStep(state: DeviceState, event: DeviceEvent): DeviceStep {
  switch (event.kind) {
    case 'connected':
      return state.phase === 'disconnected'
        ? connect(state)
        : failed(state.device, new OsapError('unexpected-message', `connected in phase ${state.phase}`));
    case 'disconnected':
      // An inconsistent negotiation leaves a retry offer; anything else starts over (re-authenticating if it can).
      return state.phase === 'disconnected' || state.phase === 'failed'
        ? step(state)
        : step(initialDeviceState(state.device));
    case 'received': {
      const want = expected(state);
      if (want === undefined)
        return failed(
          state.device,
          new OsapError('unexpected-message', `nothing expected in phase ${state.phase}`),
        );
      const frame = parseFrame(event.bytes);
      if (!frame.ok) return failed(state.device, frame.error);
      if (frame.value.type !== want.type)
        return failed(
          state.device,
          new OsapError('unexpected-message', `${frame.value.type}, not ${want.type}`),
        );
      const message = openAuthMessage(want.key, frame.value);
      return message.ok ? receive(state, message.value) : failed(state.device, message.error);
    }
  }
}
