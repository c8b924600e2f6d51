/**
 * One device's connection to the LBS (section 6 a–b, section 7; Figures 4–8), the LBS's side of `deviceStep`:
 *
 *   awaitingRequest ─ECDH_Req, consistent, code right→ awaitingApply ─apply_devid_Req→ awaitingConfirm
 *        │    └─ECDH_Req inconsistent→ (answer our offer, close)                             │ apply_devid_Cfm
 *        └─Refresh_SessionKey_Req, master key right→ authenticated ←─────────────────────────┘
 *                                                   (new session key kept at F1)
 *                                                      └─Get_AccessService_Req→ (F2 with a DAS address, close)
 *
 * A new session key is stored only once the device has used it — the Cfm of a first authentication, the F1 after a
 * re-authentication — so a replayed Refresh_SessionKey_Req (which only the device could have sealed) gets an answer
 * nobody can read and changes nothing.
 *
 * The draft defines no refusal message, so anything else — a wrong code, an unknown DevID, a failed tag, a message
 * out of turn, a throttled source — closes the connection without an answer (docs/osap.md, choice 16). A wrong
 * code costs the source and the device their guessing budget (decision 0010): the attempt is admitted before the
 * share key is tried, and a refused attempt is not tried at all, so its answer tells nothing.
 */
import { randomBytes } from 'node:crypto';
import type { GuessPolicy } from '@irsp/credentials';
import type { Logger } from '@irsp/http';
import {
  buildAuthMessage,
  createEcdhKeyPair,
  createSessionKey,
  masterKey,
  negotiate,
  openAuthMessage,
  parseFrame,
  responseOffer,
  type DasAddress,
  type Frame,
  type ProtocolOffer,
} from '@irsp/osap';
import type { LbsStore } from './lbs-store.js';
import { deviceLocalOf } from './share-key.js';

export interface LbsDeps {
  offer: ProtocolOffer;
  store: LbsStore;
  /** The guessing throttle of scope `osapcode`: target the device account, source the client's address. */
  codes: GuessPolicy;
  /** The DAS instances (das-choice.ts): where F2 sends the device. */
  das: { choose(): Promise<DasAddress | undefined> };
  logger: Logger;
}

type State =
  | { phase: 'awaitingRequest' }
  | { phase: 'awaitingApply'; serialNumber: string; masterKey: Uint8Array }
  | {
      phase: 'awaitingConfirm';
      serialNumber: string;
      masterKey: Uint8Array;
      devId: string;
      sessionKey: Uint8Array;
    }
  | {
      phase: 'authenticated';
      devId: string;
      sessionKey: Uint8Array;
      /** A refreshed session key the device has not used yet: stored when F1 opens under it. */
      unconfirmed: boolean;
    }
  | { phase: 'closed' };

export interface LbsReply {
  send: Uint8Array[];
  close: boolean;
}

/** The inconsistent answer has no content to seal; buildAuthMessage still takes a key. */
const UNSEALED = new Uint8Array(16);
const answer = (message: Uint8Array, close = false): LbsReply => ({ send: [message], close });

export class LbsSession {
  private state: State = { phase: 'awaitingRequest' };

  constructor(
    private readonly deps: LbsDeps,
    /** The client's address as the guessing throttle keys it (addressSource). */
    private readonly source: string,
  ) {}

  /** One control message, as frameLength split it off the stream; never throws for what a device sends. */
  async receive(bytes: Uint8Array): Promise<LbsReply> {
    const frame = parseFrame(bytes);
    if (!frame.ok) return this.refuse(`unreadable control message: ${frame.error.code}`);
    const reply = await this.dispatch(frame.value);
    if (reply.close) this.state = { phase: 'closed' };
    return reply;
  }

  private refuse(reason: string, fields: Record<string, unknown> = {}): LbsReply {
    this.deps.logger.info(
      { ...fields, source: this.source, phase: this.state.phase },
      `osap refused: ${reason}`,
    );
    this.state = { phase: 'closed' };
    return { send: [], close: true };
  }

  private dispatch(frame: Frame): Promise<LbsReply> | LbsReply {
    const { state } = this;
    switch (state.phase) {
      case 'awaitingRequest':
        if (frame.type === 'Authentication_ECDH_Req') return this.firstAuthentication(frame);
        if (frame.type === 'Refresh_SessionKey_Req') return this.reAuthentication(frame);
        break;
      case 'awaitingApply':
        if (frame.type === 'Authentication_apply_devid_Req') return this.applyDevId(state, frame);
        break;
      case 'awaitingConfirm':
        if (frame.type === 'Authentication_apply_devid_Cfm') return this.confirm(state, frame);
        break;
      case 'authenticated':
        if (frame.type === 'Get_AccessService_Req') return this.accessService(state, frame);
        break;
      case 'closed':
        break;
    }
    return this.refuse(`${frame.type} out of turn`);
  }

  /** Figures 4–6: negotiation, then the ECDH exchange under the share key. */
  private async firstAuthentication(frame: Extract<Frame, { type: 'Authentication_ECDH_Req' }>) {
    const { serialNumber } = frame;
    const outcome = negotiate(this.deps.offer, frame);
    if (!outcome.consistent) {
      // Case (2): our own type and group, unsealed and without a key, then close; the code is not tried.
      this.deps.logger.info({ serialNumber, source: this.source }, 'osap negotiation inconsistent');
      const rsp = { type: 'Authentication_ECDH_Rsp', ...responseOffer(outcome) } as const;
      return answer(buildAuthMessage(UNSEALED, rsp), true);
    }
    const verdict = await this.deps.codes.admit(deviceLocalOf(serialNumber), this.source);
    if (!verdict.allowed)
      return this.refuse('too many wrong verification codes', {
        serialNumber,
        limit: verdict.limit,
        retryAfterMs: verdict.retryAfterMs,
      });
    const key = await this.deps.store.shareKey(serialNumber);
    const request = key === undefined ? undefined : openAuthMessage(key, frame);
    if (key === undefined || request === undefined || !request.ok || request.value.type !== frame.type) {
      await this.deps.codes.failed(verdict.ticket);
      return this.refuse(key === undefined ? 'no device with an OSAP code' : 'wrong verification code', {
        serialNumber,
      });
    }
    await this.deps.codes.succeeded(verdict.ticket);
    const pair = createEcdhKeyPair();
    const master = masterKey(pair.privateKey, request.value.devicePublicKey);
    if (!master.ok) return this.refuse('not a public key of secp384r1', { serialNumber });
    this.state = { phase: 'awaitingApply', serialNumber, masterKey: master.value };
    const rsp = {
      type: 'Authentication_ECDH_Rsp',
      ...responseOffer(outcome),
      lbsPublicKey: pair.publicKey,
    } as const;
    return answer(buildAuthMessage(key, rsp));
  }

  /** Figure 6: a DevID and a session key, kept once the device confirms them. */
  private applyDevId(state: Extract<State, { phase: 'awaitingApply' }>, frame: Frame): LbsReply {
    const request = openAuthMessage(state.masterKey, frame);
    if (!request.ok || request.value.type !== 'Authentication_apply_devid_Req')
      return this.refuse('apply DevID not sealed under the master key', { serialNumber: state.serialNumber });
    const devId = LbsSession.newDevId();
    const sessionKey = createSessionKey();
    this.state = { ...state, phase: 'awaitingConfirm', devId, sessionKey };
    const rsp = {
      type: 'Authentication_apply_devid_Rsp',
      challenge: request.value.challenge,
      sessionKey,
      devId,
    } as const;
    return answer(buildAuthMessage(state.masterKey, rsp));
  }

  private async confirm(
    state: Extract<State, { phase: 'awaitingConfirm' }>,
    frame: Frame,
  ): Promise<LbsReply> {
    const { serialNumber, devId } = state;
    const cfm = openAuthMessage(state.sessionKey, frame);
    if (!cfm.ok || cfm.value.type !== 'Authentication_apply_devid_Cfm' || cfm.value.devId !== devId)
      return this.refuse('confirmation does not match the DevID issued', { serialNumber });
    const stored = await this.deps.store.issue(serialNumber, devId, state.masterKey, state.sessionKey);
    if (!stored) return this.refuse('the device account went away', { serialNumber });
    this.deps.logger.info({ serialNumber, devId, source: this.source }, 'osap first authentication');
    this.state = { phase: 'authenticated', devId, sessionKey: state.sessionKey, unconfirmed: false };
    return { send: [], close: false };
  }

  /** Figure 7: the master key proves the DevID; a new session key. */
  private async reAuthentication(
    frame: Extract<Frame, { type: 'Refresh_SessionKey_Req' }>,
  ): Promise<LbsReply> {
    const { devId } = frame;
    const device = await this.deps.store.device(devId);
    if (device === undefined) return this.refuse('unknown DevID', { devId });
    const request = openAuthMessage(device.masterKey, frame);
    if (!request.ok || request.value.type !== 'Refresh_SessionKey_Req')
      return this.refuse('refresh not sealed under the master key', { devId });
    const sessionKey = createSessionKey();
    this.state = { phase: 'authenticated', devId, sessionKey, unconfirmed: true };
    const rsp = { type: 'Refresh_SessionKey_Rsp', challenge: request.value.challenge, sessionKey } as const;
    return answer(buildAuthMessage(device.masterKey, rsp));
  }

  /** Section 7, F1 → F2: the address of a DAS, then the LBS's part is done. */
  private async accessService(state: Extract<State, { phase: 'authenticated' }>, frame: Frame) {
    const request = openAuthMessage(state.sessionKey, frame);
    if (!request.ok || request.value.type !== 'Get_AccessService_Req')
      return this.refuse('F1 not sealed under the session key', { devId: state.devId });
    if (state.unconfirmed) {
      if (!(await this.deps.store.refresh(state.devId, state.sessionKey)))
        return this.refuse('the DevID was revoked', { devId: state.devId });
      this.deps.logger.info({ devId: state.devId, source: this.source }, 'osap re-authentication');
    }
    const das = await this.deps.das.choose();
    if (das === undefined) {
      this.deps.logger.warn({ devId: state.devId }, 'osap: no healthy DAS to send a device to');
      return this.refuse('no healthy DAS', { devId: state.devId });
    }
    this.deps.logger.info({ devId: state.devId, das }, 'osap device sent to a DAS');
    const rsp = { type: 'Get_AccessService_Rsp', challenge: request.value.challenge, das } as const;
    return answer(buildAuthMessage(state.sessionKey, rsp), true);
  }

  /** 96 random bits: a DevID is no secret, but it is not to be guessed either. */
  private static newDevId(): string {
    return randomBytes(12).toString('base64url');
  }
}
