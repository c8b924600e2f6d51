/** fast-check arbitraries of valid values of every OSAP field and control message. */
import fc from 'fast-check';
import {
  CONTROL_MESSAGE_TYPE_NAMES,
  CONTROL_FLAG_ECDH,
  OSAP_VERSION,
  byteToGroup,
  type AuthMessage,
  type Frame,
  type ProtocolGroup,
} from '../src/index.js';

export const identifier = fc.string({
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 64,
});
export const protocolType = fc.integer({ min: 0, max: 255 });
export const protocolGroup: fc.Arbitrary<ProtocolGroup> = fc.integer({ min: 1, max: 255 }).map(byteToGroup);
/** Bit1 set (ECDH mode), the reserved bits anything. */
export const controlFlag = fc.integer({ min: 0, max: 15 }).map((f) => f | CONTROL_FLAG_ECDH);
/** Versions we read: our FORM_VERSION and HIGH_TYPE_VERSION, any LOW_TYPE_VERSION. */
export const version = fc
  .integer({ min: 0, max: 255 })
  .map((low) => ({ ...OSAP_VERSION, LOW_TYPE_VERSION: low }));
/** Mostly short, sometimes up to the 65 532 bytes LEN leaves after PROTOCOL-VERSION. */
export const transaction = fc.oneof(
  { weight: 50, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 65_000, max: 65_532 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
  },
);
export const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });

export const frame: fc.Arbitrary<Frame> = fc
  .record({
    type: fc.constantFrom(...CONTROL_MESSAGE_TYPE_NAMES),
    controlFlag,
    version,
    transaction,
    protocolType,
    protocolGroup,
    serialNumber: identifier,
    devId: identifier,
  })
  .map(({ type, protocolType, protocolGroup, serialNumber, devId, ...common }) => {
    switch (type) {
      case 'Authentication_ECDH_Req':
        return { type, ...common, protocolType, protocolGroup, serialNumber };
      case 'Authentication_ECDH_Rsp':
        return { type, ...common, protocolType, protocolGroup };
      case 'Refresh_SessionKey_Req':
        return { type, ...common, devId };
      default:
        return { type, ...common };
    }
  });

/** Edits of valid bytes: insertions, deletions and flipped bytes at random places. */
export const edited = (valid: fc.Arbitrary<Uint8Array>) =>
  valid.chain((bytes) =>
    fc
      .tuple(fc.nat({ max: bytes.length }), fc.uint8Array({ maxLength: 4 }), fc.nat({ max: 4 }), fc.nat(255))
      .map(([at, insert, drop, xor]) => {
        const out = Uint8Array.from([
          ...bytes.subarray(0, at),
          ...insert,
          ...bytes.subarray(Math.min(bytes.length, at + drop)),
        ]);
        if (out.length > 0) out[at % out.length]! ^= xor;
        return out;
      }),
  );

const key16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const challenge = key16;
const publicKey = fc.uint8Array({ minLength: 97, maxLength: 97 });
const host = fc.oneof(
  fc.constantFrom('das.example.net', '192.0.2.7', '2001:db8::1', 'localhost'),
  fc.stringMatching(/^[a-z0-9-]{1,20}(\.[a-z0-9-]{1,20}){0,3}$/),
);

/** One valid message of every type of the authentication flow (messages.ts). */
export const authMessage: fc.Arbitrary<AuthMessage> = fc.oneof(
  fc.record({
    type: fc.constant('Authentication_ECDH_Req' as const),
    protocolType,
    protocolGroup,
    serialNumber: identifier,
    devicePublicKey: publicKey,
  }),
  fc.record(
    {
      type: fc.constant('Authentication_ECDH_Rsp' as const),
      protocolType,
      protocolGroup,
      lbsPublicKey: publicKey,
    },
    { requiredKeys: ['type', 'protocolType', 'protocolGroup'] },
  ),
  fc.record({ type: fc.constant('Authentication_apply_devid_Req' as const), challenge }),
  fc.record({
    type: fc.constant('Authentication_apply_devid_Rsp' as const),
    challenge,
    sessionKey: key16,
    devId: identifier,
  }),
  fc.record({ type: fc.constant('Authentication_apply_devid_Cfm' as const), devId: identifier }),
  fc.record({ type: fc.constant('Refresh_SessionKey_Req' as const), devId: identifier, challenge }),
  fc.record({ type: fc.constant('Refresh_SessionKey_Rsp' as const), challenge, sessionKey: key16 }),
  fc.record({ type: fc.constant('Get_AccessService_Req' as const), challenge }),
  fc.record({
    type: fc.constant('Get_AccessService_Rsp' as const),
    challenge,
    das: fc.record({ host, port: fc.integer({ min: 1, max: 65_535 }) }),
  }),
);
