/**
 * The device's state machine (section 6 a–b, section 7) against an LBS written in the test from the package's
 * builders and parsers — the shape the LBS service will have.
 */
import { describe, expect, it } from 'vitest';
import {
  buildAuthMessage,
  createEcdhKeyPair,
  createSessionKey,
  deviceStep,
  initialDeviceState,
  masterKey,
  negotiate,
  openAuthMessage,
  parseFrame,
  responseOffer,
  shareKey,
  type DasAddress,
  type DeviceCredentials,
  type DeviceState,
  type DeviceStep,
  type ProtocolOffer,
} from '../src/index.js';

const SERIAL = 'DS-2CD2143G0-I20240101AAWR123456789';
const CODE = 'ABCDEF';
const FAST = { iterations: 1000 };
const DAS: DasAddress = { host: 'das.example.net', port: 8883 };

/** An LBS: knows each device's verification code, issues DevIDs, remembers master keys. */
function createLbs(offer: ProtocolOffer) {
  const masterKeys = new Map<string, Uint8Array>();
  return {
    masterKeys,
    /** One TCP connection: answers each control message, or closes. */
    connect() {
      let key: Uint8Array | undefined;
      let master: Uint8Array | undefined;
      let session: Uint8Array | undefined;
      let serial: string | undefined;
      const conn = {
        session: () => session,
        receive(bytes: Uint8Array): { send: Uint8Array[]; close: boolean } {
          const frame = parseFrame(bytes);
          if (!frame.ok) return { send: [], close: true };
          const f = frame.value;
          const keyFor =
            f.type === 'Authentication_ECDH_Req'
              ? (key = shareKey(CODE, f.serialNumber, FAST))
              : f.type === 'Refresh_SessionKey_Req'
                ? (master = masterKeys.get(f.devId))
                : f.type === 'Authentication_apply_devid_Req'
                  ? master
                  : session;
          if (keyFor === undefined) return { send: [], close: true };
          const opened = openAuthMessage(keyFor, f);
          if (!opened.ok) return { send: [], close: true };
          const m = opened.value;
          switch (m.type) {
            case 'Authentication_ECDH_Req': {
              serial = m.serialNumber;
              const outcome = negotiate(offer, m);
              if (!outcome.consistent)
                return {
                  send: [
                    buildAuthMessage(key!, { type: 'Authentication_ECDH_Rsp', ...responseOffer(outcome) }),
                  ],
                  close: true,
                };
              const pair = createEcdhKeyPair();
              const derived = masterKey(pair.privateKey, m.devicePublicKey);
              if (!derived.ok) return { send: [], close: true };
              master = derived.value;
              const rsp = {
                type: 'Authentication_ECDH_Rsp',
                ...responseOffer(outcome),
                lbsPublicKey: pair.publicKey,
              } as const;
              return { send: [buildAuthMessage(key!, rsp)], close: false };
            }
            case 'Authentication_apply_devid_Req': {
              const devId = `DEV-${serial!.slice(-4)}`;
              masterKeys.set(devId, master!);
              session = createSessionKey();
              const rsp = {
                type: 'Authentication_apply_devid_Rsp',
                challenge: m.challenge,
                sessionKey: session,
                devId,
              } as const;
              return { send: [buildAuthMessage(master!, rsp)], close: false };
            }
            case 'Refresh_SessionKey_Req': {
              session = createSessionKey();
              const rsp = {
                type: 'Refresh_SessionKey_Rsp',
                challenge: m.challenge,
                sessionKey: session,
              } as const;
              return { send: [buildAuthMessage(master!, rsp)], close: false };
            }
            case 'Get_AccessService_Req': {
              const rsp = { type: 'Get_AccessService_Rsp', challenge: m.challenge, das: DAS } as const;
              return { send: [buildAuthMessage(session!, rsp)], close: false };
            }
            default:
              return { send: [], close: false };
          }
        },
      };
      return conn;
    },
  };
}

/** Runs connections until the device is ready or failed (at most `connections`), returning each step's phase. */
function run(lbs: ReturnType<typeof createLbs>, start: DeviceState, connections = 3) {
  let state = start;
  const phases: string[] = [];
  let lastSession: Uint8Array | undefined;
  for (let c = 0; c < connections && state.phase === 'disconnected'; c++) {
    const conn = lbs.connect();
    let pending: DeviceStep = deviceStep(state, { kind: 'connected' });
    for (;;) {
      state = pending.state;
      phases.push(state.phase);
      const answers = pending.send.map((bytes) => conn.receive(bytes));
      lastSession = conn.session();
      const incoming = answers.flatMap((a) => a.send);
      if (pending.close || answers.some((a) => a.close) || incoming.length === 0) {
        for (const bytes of incoming) state = deviceStep(state, { kind: 'received', bytes }).state;
        if (state.phase !== 'ready' && state.phase !== 'failed')
          state = deviceStep(state, { kind: 'disconnected' }).state;
        phases.push(`closed:${state.phase}`);
        break;
      }
      pending = deviceStep(state, { kind: 'received', bytes: incoming[0]! });
    }
  }
  return { state, phases, lastSession };
}

const credentials = (supports: ProtocolOffer[]): DeviceCredentials => ({
  serialNumber: SERIAL,
  shareKey: shareKey(CODE, SERIAL, FAST),
  supports,
});

describe('device: negotiation, first authentication, re-authentication, access service', () => {
  it('first authentication, consistent (Figures 4, 6, 8): DevID, master key, session key, DAS address', () => {
    const lbs = createLbs({ protocolType: 1, protocolGroup: [1, 2, 4, 8] });
    const { state, phases, lastSession } = run(
      lbs,
      initialDeviceState(credentials([{ protocolType: 1, protocolGroup: [1, 2] }])),
    );
    expect(phases).toEqual(['negotiating', 'applyingDevId', 'gettingAccessService', 'ready', 'closed:ready']);
    expect(state).toMatchObject({ phase: 'ready', das: DAS, device: { devId: 'DEV-6789' } });
    if (state.phase !== 'ready') return;
    expect(state.sessionKey).toEqual(lastSession);
    expect(state.device.masterKey).toEqual(lbs.masterKeys.get('DEV-6789'));
  });

  it('inconsistent (Figure 5): the LBS answers its type and group and closes; the device retries with them', () => {
    const lbs = createLbs({ protocolType: 2, protocolGroup: [2, 4, 8] });
    const supports = [
      { protocolType: 1, protocolGroup: [1, 2, 4, 8] },
      { protocolType: 2, protocolGroup: [1, 2, 4, 8] },
    ] satisfies ProtocolOffer[];
    const { state, phases } = run(lbs, initialDeviceState(credentials(supports)));
    expect(phases).toEqual([
      'negotiating',
      'closed:disconnected',
      'negotiating',
      'applyingDevId',
      'gettingAccessService',
      'ready',
      'closed:ready',
    ]);
    expect(state.phase).toBe('ready');
  });

  it('gives up when it supports nothing the LBS offers', () => {
    const lbs = createLbs({ protocolType: 2, protocolGroup: [2, 4, 8] });
    const { state } = run(
      lbs,
      initialDeviceState(credentials([{ protocolType: 1, protocolGroup: [1, 2, 4, 8] }])),
    );
    expect(state).toMatchObject({ phase: 'failed', error: { code: 'negotiation-failed' } });
  });

  it('re-authenticates (Figure 7) with its DevID and master key, and gets a new session key', () => {
    const lbs = createLbs({ protocolType: 1, protocolGroup: [1] });
    const first = run(lbs, initialDeviceState(credentials([{ protocolType: 1, protocolGroup: [1] }])));
    if (first.state.phase !== 'ready') throw new Error('not ready');
    const again = deviceStep(first.state, { kind: 'disconnected' }).state;
    expect(again.phase).toBe('disconnected');
    const second = run(lbs, again);
    expect(second.phases).toEqual(['refreshing', 'gettingAccessService', 'ready', 'closed:ready']);
    if (second.state.phase !== 'ready') throw new Error('not ready');
    expect(second.state.sessionKey).toEqual(second.lastSession);
    expect(second.state.sessionKey).not.toEqual(first.state.sessionKey);
    expect(second.state.device.masterKey).toEqual(first.state.device.masterKey);
  });

  it('fails, and closes, on a wrong verification code, a wrong challenge, an unexpected message or garbage', () => {
    const device = credentials([{ protocolType: 1, protocolGroup: [1] }]);
    const wrongCode = { ...device, shareKey: shareKey('ABCDEG', SERIAL, FAST) };
    const lbs = createLbs({ protocolType: 1, protocolGroup: [1] });
    expect(run(lbs, initialDeviceState(wrongCode)).state.phase).toBe('disconnected');

    const sent = deviceStep(initialDeviceState(device), { kind: 'connected' });
    const failedWith = (bytes: Uint8Array) => {
      const next = deviceStep(sent.state, { kind: 'received', bytes });
      expect(next.close).toBe(true);
      return next.state.phase === 'failed' ? next.state.error.code : next.state.phase;
    };
    const other = createLbs({ protocolType: 1, protocolGroup: [1] });
    const [rsp] = other.connect().receive(sent.send[0]!).send;
    const wrongKey = shareKey(CODE, 'OTHER-SERIAL', FAST);
    const forged = buildAuthMessage(wrongKey, {
      type: 'Authentication_ECDH_Rsp',
      protocolType: 1,
      protocolGroup: [1],
      lbsPublicKey: createEcdhKeyPair().publicKey,
    });
    expect(failedWith(forged)).toBe('integrity');
    expect(failedWith(Uint8Array.of(0x01, 0x00))).toBe('unknown-type');
    expect(failedWith(Uint8Array.of(0x21, 0x02))).toBe('truncated');
    expect(
      failedWith(
        buildAuthMessage(device.shareKey, { type: 'Get_AccessService_Req', challenge: new Uint8Array(16) }),
      ),
    ).toBe('unexpected-message');
    const notOnCurve = Uint8Array.of(4, ...new Uint8Array(96));
    const badPoint = buildAuthMessage(device.shareKey, {
      type: 'Authentication_ECDH_Rsp',
      protocolType: 1,
      protocolGroup: [1],
      lbsPublicKey: notOnCurve,
    });
    expect(failedWith(badPoint)).toBe('invalid-key');
    expect(rsp).toBeDefined();
    const applying = deviceStep(sent.state, { kind: 'received', bytes: rsp! });
    expect(applying.state.phase).toBe('applyingDevId');
    const master = applying.state.device.masterKey!;
    const stale = buildAuthMessage(master, {
      type: 'Authentication_apply_devid_Rsp',
      challenge: new Uint8Array(16),
      sessionKey: new Uint8Array(16),
      devId: 'DEV-1',
    });
    expect(deviceStep(applying.state, { kind: 'received', bytes: stale }).state).toMatchObject({
      phase: 'failed',
      error: { code: 'unexpected-message' },
    });
    expect(deviceStep(applying.state, { kind: 'connected' }).state).toMatchObject({ phase: 'failed' });
    const ready = deviceStep(initialDeviceState(device), { kind: 'received', bytes: rsp! }).state;
    expect(ready).toMatchObject({ phase: 'failed', error: { code: 'unexpected-message' } });
  });
});
