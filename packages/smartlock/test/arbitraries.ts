/** fast-check arbitraries of valid values of every message, push and frame field. */
import fc from 'fast-check';
import {
  MAX_UNIX_SECONDS,
  OPERATION_NAMES,
  statusEntries,
  type Frame,
  type Operation,
  type PushData,
  type RequestBody,
  type ResponseBody,
  type StatusCode,
  type TpspEventData,
  type TpspRequestData,
} from '../src/index.js';

const LOCAL_CHAR = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789._-#+', 'é', 'ß', '中', '😀');
export const localPart = fc
  .string({ unit: LOCAL_CHAR, minLength: 1, maxLength: 64 })
  .filter((s) => !s.startsWith('#'));
const label = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'),
  minLength: 1,
  maxLength: 12,
});
export const domain = fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join('.'));
export const fullUserId = fc.tuple(localPart, domain).map(([l, d]) => `${l}@${d}`);
export const userId = fc.oneof(localPart, fullUserId);
export const deviceId = fc.string({ unit: LOCAL_CHAR, minLength: 1, maxLength: 63 }).map((s) => `#${s}`);
export const hex = (bytes: number) =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));
export const lockId = hex(8);
export const uint32 = fc.integer({ min: 0, max: MAX_UNIX_SECONDS });
export const timestamp = fc
  .tuple(fc.integer({ min: 0, max: MAX_UNIX_SECONDS * 1000 }), fc.boolean())
  .map(([ms, short]) => {
    const iso = new Date(ms).toISOString();
    return short && ms % 1000 === 0 ? iso.replace('.000Z', 'Z') : iso;
  });
/** Two distinct timestamps in order. */
export const grantWindow = fc
  .tuple(timestamp, timestamp)
  .filter(([a, b]) => Date.parse(a) !== Date.parse(b))
  .map(([a, b]) => (Date.parse(a) < Date.parse(b) ? { from: a, until: b } : { from: b, until: a }));
export const name = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
  .filter((s) => !/[\p{Cc}\p{Cs}]/u.test(s) && [...s].length <= 64);
export const pin = fc.stringMatching(/^[0-9]{6,12}$/);
export const requestId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
export const statusCode = fc.constantFrom(...statusEntries().map((e) => e.code)) as fc.Arbitrary<StatusCode>;
export const action = fc.constantFrom('lock' as const, 'unlock' as const);
export const bolt = fc.constantFrom('locked' as const, 'unlocked' as const, 'jammed' as const);
export const battery = fc.integer({ min: 0, max: 100 });
export const thirdParty = fc.stringMatching(/^[a-z0-9-]{1,32}$/);

export const requestBodies: { [O in Operation]: fc.Arbitrary<RequestBody<O>> } = {
  userRegister: fc.record({ displayName: name, pin }),
  userAuthenticate: fc.record({ pin }),
  lockDiscover: fc.record({ gatewayId: deviceId, seconds: fc.integer({ min: 1, max: 60 }) }),
  lockAuthenticate: fc.record({
    gatewayId: deviceId,
    lockId,
    activationCode: fc.stringMatching(/^[A-Z0-9]{8,32}$/),
  }),
  lockRegister: fc.record({ gatewayId: deviceId, lockId, name }),
  lockRemove: fc.record({ lockId }),
  lockControl: fc.record({ lockId, action, deadline: timestamp }),
  grantAccess: fc.tuple(lockId, userId, grantWindow).map(([l, g, w]) => ({ lockId: l, grantee: g, ...w })),
  revokeAccess: fc.record({ lockId, grantee: userId }),
  auditLog: fc.record(
    { lockId, before: timestamp, limit: fc.integer({ min: 1, max: 100 }) },
    { requiredKeys: ['lockId', 'limit'] },
  ),
  thirdPartyLink: fc.record({ lockId, thirdParty }),
  thirdPartyUnlink: fc.record({ lockId, thirdParty }),
  lockList: fc.constant({}),
};

export const responseBodies: { [O in Operation]: fc.Arbitrary<ResponseBody<O>> } = {
  userRegister: fc.record({ userId: fullUserId, registeredAt: timestamp }),
  userAuthenticate: fc.record({ userId: fullUserId, validUntil: timestamp }),
  lockDiscover: fc.record({
    gatewayId: deviceId,
    locks: fc.array(
      fc.record({ lockId, rssi: fc.integer({ min: -127, max: 20 }), registered: fc.boolean() }),
      { maxLength: 4 },
    ),
  }),
  lockAuthenticate: fc.record({ lockId, model: name, firmware: name }),
  lockRegister: fc.record({ lockId, gatewayId: deviceId, name, registeredAt: timestamp }),
  lockRemove: fc.record({ lockId, removedAt: timestamp }),
  lockControl: fc.record({ lockId, action, deadline: timestamp }),
  grantAccess: requestBodies.grantAccess,
  revokeAccess: requestBodies.revokeAccess,
  thirdPartyLink: fc.record({ lockId, thirdParty, linkedAt: timestamp }),
  thirdPartyUnlink: requestBodies.thirdPartyUnlink,
  lockList: fc.record({
    locks: fc.array(
      fc.record(
        {
          lockId,
          name,
          role: fc.constantFrom('owner' as const, 'grantee' as const),
          gatewayId: deviceId,
          from: timestamp,
          until: timestamp,
          state: bolt,
          battery,
          grants: fc.array(fc.record({ grantee: userId, from: timestamp, until: timestamp }), {
            maxLength: 3,
          }),
        },
        { requiredKeys: ['lockId', 'name', 'role'] },
      ),
      { maxLength: 3 },
    ),
  }),
  auditLog: fc.record({
    lockId,
    entries: fc.array(
      fc.record(
        {
          at: timestamp,
          userId,
          action: fc.constantFrom(
            'lock' as const,
            'unlock' as const,
            'grantAccess' as const,
            'revokeAccess' as const,
            'lockRegister' as const,
            'lockRemove' as const,
            'thirdPartyLink' as const,
            'thirdPartyUnlink' as const,
          ),
          status: statusCode,
          via: thirdParty,
        },
        { requiredKeys: ['at', 'userId', 'action', 'status'] },
      ),
      { maxLength: 4 },
    ),
  }),
};

export const operation = fc.constantFrom(...OPERATION_NAMES);

/** Small edits of a text: replace, insert or delete one character at a position. */
export function mutateText(text: string): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.nat({ max: Math.max(0, text.length - 1) }),
      fc.constantFrom('replace', 'insert', 'delete'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }),
    )
    .map(([at, how, s]) =>
      how === 'delete'
        ? text.slice(0, at) + text.slice(at + 1)
        : text.slice(0, at) + s + text.slice(how === 'replace' ? at + 1 : at),
    );
}

/** A JSON text with one value (at any depth) replaced by an arbitrary JSON value, or one key added. */
export function mutateJson(text: string): fc.Arbitrary<string> {
  const paths: (string | number)[][] = [];
  const walk = (value: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (value && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) walk(v, [...path, Array.isArray(value) ? Number(k) : k]);
  };
  walk(JSON.parse(text), []);
  return fc
    .tuple(
      fc.constantFrom(...paths),
      fc.jsonValue({ maxDepth: 2 }),
      fc.boolean(),
      fc.string({ maxLength: 8 }),
    )
    .map(([path, replacement, addKey, key]) => {
      const root = JSON.parse(text) as unknown;
      if (path.length === 0) return JSON.stringify(replacement);
      let parent = root as Record<string | number, unknown>;
      for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
      const last = path[path.length - 1]!;
      if (addKey && parent[last] && typeof parent[last] === 'object')
        (parent[last] as Record<string, unknown>)[key] = replacement;
      else parent[last] = replacement;
      return JSON.stringify(root);
    });
}

export const push: fc.Arbitrary<PushData> = fc.oneof(
  fc.record({ event: fc.constant('lockState' as const), lockId, state: bolt, battery, at: timestamp }),
  fc.record(
    {
      event: fc.constant('commandResult' as const),
      lockId,
      requestId,
      action,
      status: statusCode,
      state: bolt,
      at: timestamp,
    },
    { requiredKeys: ['event', 'lockId', 'requestId', 'action', 'status', 'at'] },
  ),
  fc
    .tuple(lockId, userId, grantWindow, timestamp)
    .map(([l, g, w, at]) => ({ event: 'accessGranted' as const, lockId: l, grantee: g, ...w, at })),
  fc.record({ event: fc.constant('accessRevoked' as const), lockId, grantee: userId, at: timestamp }),
  fc.record({ event: fc.constant('lockRegistered' as const), lockId, gatewayId: deviceId, at: timestamp }),
  fc.record({ event: fc.constant('lockRemoved' as const), lockId, at: timestamp }),
  fc.record({ event: fc.constant('gatewayOnline' as const), gatewayId: deviceId, at: timestamp }),
  fc.record({ event: fc.constant('gatewayOffline' as const), gatewayId: deviceId, at: timestamp }),
  fc.record({ event: fc.constant('batteryLow' as const), lockId, battery, at: timestamp }),
);

export const key = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b));
/** A user account ID that fits a frame (at most 255 UTF-8 bytes). */
export const frameUserId = userId.filter((id) => Buffer.byteLength(id) <= 255);
const frameHeader = fc.record({
  lockId,
  keyId: fc.integer({ min: 0, max: 255 }),
  counter: uint32,
  deadline: uint32,
  nonce: hex(13),
});
export const frame: fc.Arbitrary<Frame> = fc
  .tuple(
    frameHeader,
    fc.oneof(
      fc.record({
        type: fc.constant('writeUserAccountIdRequest' as const),
        mode: fc.constantFrom('add' as const, 'remove' as const),
        userId: frameUserId,
      }),
      fc.record({ type: fc.constant('writeUserAccountIdResponse' as const), status: statusCode }),
      fc.record({ type: fc.constant('authenticateUserAccountIdRequest' as const), userId: frameUserId }),
      fc.record({ type: fc.constant('authenticateUserAccountIdResponse' as const), status: statusCode }),
      fc.record({ type: fc.constant('lockOperationRequest' as const), action, userId: frameUserId }),
      fc.record({ type: fc.constant('lockOperationResponse' as const), status: statusCode, bolt, battery }),
    ),
  )
  .map(([header, body]) => ({ ...header, ...body }));

/** TPSP requests (clause 6.6), without the version. */
export const tpspRequest: fc.Arbitrary<TpspRequestData> = fc.oneof(
  fc.tuple(requestId, timestamp, lockId, userId, grantWindow).map(([id, ts, l, guest, w]) => ({
    id,
    operation: 'guestGrant' as const,
    timestamp: ts,
    body: { lockId: l, guest, ...w },
  })),
  fc.record({
    id: requestId,
    operation: fc.constant('guestRevoke' as const),
    timestamp,
    body: fc.record({ lockId, guest: userId }),
  }),
);

/** Events for a TPSP, without the version. */
export const tpspEvent: fc.Arbitrary<TpspEventData> = fc.oneof(
  fc.record({ event: fc.constant('lockLinked' as const), lockId, owner: userId, at: timestamp }),
  fc.record({ event: fc.constant('lockUnlinked' as const), lockId, owner: userId, at: timestamp }),
  fc.record(
    {
      event: fc.constant('lockOperated' as const),
      lockId,
      userId,
      action,
      status: statusCode,
      state: bolt,
      at: timestamp,
    },
    { requiredKeys: ['event', 'lockId', 'userId', 'action', 'status', 'at'] },
  ),
  fc.record({ event: fc.constant('batteryLow' as const), lockId, battery, at: timestamp }),
  fc
    .tuple(
      fc.option(requestId, { nil: null }),
      fc.constantFrom('guestGrant' as const, 'guestRevoke' as const, null),
      fc.constantFrom(...statusEntries()),
      timestamp,
    )
    .map(([requestId, operation, status, at]) => ({
      event: 'requestResult' as const,
      requestId,
      operation,
      status: status.code,
      message: status.message,
      at,
    })),
);
