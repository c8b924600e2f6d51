/**
 * Clause 7.7: the generic message format between RAC and RAS, and the operation bodies of 7.1–7.5 (Figures 7–12,
 * A.1, A.2). Our design; the standard's text is not available (docs/smartlock.md).
 *
 * A message is JSON text carried as the `data` of IRSP Message 8 (RAC→RAS) or Message 12 (RAS→RAC), so it is at
 * most 65 536 characters. No body names the acting user: the RAS takes that from the authenticated transport
 * (the `userid` of Message 8), so a RAC cannot act in another user's name by writing it into a body.
 */
import { z } from 'zod';
import {
  batterySchema,
  boltStateSchema,
  describeIssue,
  lockActionSchema,
  deviceIdSchema,
  lockIdSchema,
  nameSchema,
  thirdPartyNameSchema,
  timestampSchema,
  userIdSchema,
} from './fields.js';
import {
  STATUS,
  isSuccess,
  statusByCode,
  statusCodeSchema,
  type StatusCode,
  type StatusName,
} from './status.js';

export const MESSAGE_VERSION = 1;
/** The `data` bound of IRSP Messages 8 and 12, in UTF-16 code units as JavaScript and the IRSP count them. */
export const MAX_MESSAGE_LENGTH = 65_536;
export const MAX_AUDIT_ENTRIES = 100;
export const MAX_DISCOVERED_LOCKS = 32;
/** Locks a lockList answer holds (and grants per lock). */
export const MAX_LISTED = 100;

export const requestIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'id must be 1–64 of A-Z a-z 0-9 _ -');
/** An application PIN the user confirms sensitive operations with (7.2); never logged. */
export const pinSchema = z.string().regex(/^[0-9]{6,12}$/, 'pin must be 6–12 digits');

/** A grant: the grantee may operate the lock from `from` (inclusive) until `until` (exclusive). */
const grantSchema = z
  .strictObject({
    lockId: lockIdSchema,
    grantee: userIdSchema,
    from: timestampSchema,
    until: timestampSchema,
  })
  .refine((w) => Date.parse(w.from) < Date.parse(w.until), { message: 'from must be before until' });

const auditActionSchema = z.enum([
  'lock',
  'unlock',
  'grantAccess',
  'revokeAccess',
  /** The grant's window ended and the lock forgot the grantee (the entry's user). */
  'grantEnded',
  'lockRegister',
  'lockRemove',
  'thirdPartyLink',
  'thirdPartyUnlink',
]);

/** Request and response body of every operation; the keys are the `operation` values. */
export const OPERATIONS = {
  /** 7.1, Figure 8, A.1/A.2: the transport-authenticated IRSP user joins the smart-lock application. */
  userRegister: {
    request: z.strictObject({ displayName: nameSchema, pin: pinSchema }),
    response: z.strictObject({ userId: userIdSchema, registeredAt: timestampSchema }),
  },
  /** 7.2, Figure 9: step-up with the application PIN; sensitive operations need it until validUntil. */
  userAuthenticate: {
    request: z.strictObject({ pin: pinSchema }),
    response: z.strictObject({ userId: userIdSchema, validUntil: timestampSchema }),
  },
  /** 7.3: the BGW scans for BSLDs for a while and reports what it heard. */
  lockDiscover: {
    request: z.strictObject({ gatewayId: deviceIdSchema, seconds: z.number().int().min(1).max(60) }),
    response: z.strictObject({
      gatewayId: deviceIdSchema,
      locks: z
        .array(
          z.strictObject({
            lockId: lockIdSchema,
            rssi: z.number().int().min(-127).max(20),
            registered: z.boolean(),
          }),
        )
        .max(MAX_DISCOVERED_LOCKS),
    }),
  },
  /** 7.4, Figure 10: the activation code shipped with the lock proves the user holds this BSLD. */
  lockAuthenticate: {
    request: z.strictObject({
      gatewayId: deviceIdSchema,
      lockId: lockIdSchema,
      activationCode: z.string().regex(/^[A-Z0-9]{8,32}$/, 'activation code must be 8–32 of A-Z 0-9'),
    }),
    response: z.strictObject({ lockId: lockIdSchema, model: nameSchema, firmware: nameSchema }),
  },
  /** 7.4, Figures 6 and 11: the authenticated lock is registered with the acting user as its owner. */
  lockRegister: {
    request: z.strictObject({ gatewayId: deviceIdSchema, lockId: lockIdSchema, name: nameSchema }),
    response: z.strictObject({
      lockId: lockIdSchema,
      gatewayId: deviceIdSchema,
      name: nameSchema,
      registeredAt: timestampSchema,
    }),
  },
  /** 7.5, Figure 12: the owner removes the lock; its key and user list are wiped. */
  lockRemove: {
    request: z.strictObject({ lockId: lockIdSchema }),
    response: z.strictObject({ lockId: lockIdSchema, removedAt: timestampSchema }),
  },
  /** Figure 7: answered `accepted` once the frame is on its way; the outcome is a commandResult push. */
  lockControl: {
    request: z.strictObject({ lockId: lockIdSchema, action: lockActionSchema, deadline: timestampSchema }),
    response: z.strictObject({ lockId: lockIdSchema, action: lockActionSchema, deadline: timestampSchema }),
  },
  /** The owner shares the lock with another user, possibly of another AS, for [from, until]. */
  grantAccess: {
    request: grantSchema,
    response: grantSchema,
  },
  revokeAccess: {
    request: z.strictObject({ lockId: lockIdSchema, grantee: userIdSchema }),
    response: z.strictObject({ lockId: lockIdSchema, grantee: userIdSchema }),
  },
  /** 6.6: the owner lets a TPSP (a third party of the IRSP's gateway) grant guests access and hear the lock's events. */
  thirdPartyLink: {
    request: z.strictObject({ lockId: lockIdSchema, thirdParty: thirdPartyNameSchema }),
    response: z.strictObject({
      lockId: lockIdSchema,
      thirdParty: thirdPartyNameSchema,
      linkedAt: timestampSchema,
    }),
  },
  /** The TPSP's requests for the lock are no longer taken; the grants it made run to their end. */
  thirdPartyUnlink: {
    request: z.strictObject({ lockId: lockIdSchema, thirdParty: thirdPartyNameSchema }),
    response: z.strictObject({ lockId: lockIdSchema, thirdParty: thirdPartyNameSchema }),
  },
  /** Newest first; `before` pages back. */
  /** The user's locks as the RAS knows them: those it owns (with their grants) and those shared with it. */
  lockList: {
    request: z.strictObject({}),
    response: z.strictObject({
      locks: z
        .array(
          z.strictObject({
            lockId: lockIdSchema,
            name: nameSchema,
            role: z.enum(['owner', 'grantee']),
            /** The owner's: the gateway the lock is reached through. */
            gatewayId: deviceIdSchema.optional(),
            /** The grantee's: its window. */
            from: timestampSchema.optional(),
            until: timestampSchema.optional(),
            /** As the lock last reported. */
            state: boltStateSchema.optional(),
            battery: batterySchema.optional(),
            /** The owner's: who else may operate it, and when. */
            grants: z
              .array(z.strictObject({ grantee: userIdSchema, from: timestampSchema, until: timestampSchema }))
              .max(MAX_LISTED)
              .optional(),
          }),
        )
        .max(MAX_LISTED),
    }),
  },
  auditLog: {
    request: z.strictObject({
      lockId: lockIdSchema,
      before: timestampSchema.optional(),
      limit: z.number().int().min(1).max(MAX_AUDIT_ENTRIES),
    }),
    response: z.strictObject({
      lockId: lockIdSchema,
      entries: z
        .array(
          z.strictObject({
            at: timestampSchema,
            userId: userIdSchema,
            action: auditActionSchema,
            status: statusCodeSchema,
            /** The TPSP concerned: linked or unlinked by the owner, or acting in the owner's name (a guest grant or revocation). */
            via: thirdPartyNameSchema.optional(),
          }),
        )
        .max(MAX_AUDIT_ENTRIES),
    }),
  },
} as const;

export type Operation = keyof typeof OPERATIONS;
export const OPERATION_NAMES = Object.keys(OPERATIONS) as Operation[];
export type RequestBody<O extends Operation> = z.output<(typeof OPERATIONS)[O]['request']>;
export type ResponseBody<O extends Operation> = z.output<(typeof OPERATIONS)[O]['response']>;

export type SmartlockRequest = {
  [O in Operation]: {
    version: typeof MESSAGE_VERSION;
    id: string;
    operation: O;
    timestamp: string;
    body: RequestBody<O>;
  };
}[Operation];

export type RequestOf<O extends Operation> = Extract<SmartlockRequest, { operation: O }>;

export interface SmartlockResponse<O extends Operation> {
  version: typeof MESSAGE_VERSION;
  /** The request's id; null only in an error answer to a request whose id could not be read. */
  id: string | null;
  status: StatusCode;
  /** The Table 1 message content of `status`, exactly. */
  message: string;
  /** Present exactly when the status is of the success class. */
  body?: ResponseBody<O>;
}

export interface ParseFailure {
  status: StatusCode;
  detail: string;
}
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ParseFailure };

/** What a builder throws when asked to build something its own parser would refuse. */
export class MessageError extends Error {
  override readonly name = 'MessageError';
  constructor(
    readonly status: StatusCode,
    readonly detail: string,
  ) {
    super(detail);
  }
}

const fail = (status: StatusName, detail: string): { ok: false; error: ParseFailure } => ({
  ok: false,
  error: { status: STATUS[status].code, detail },
});

/**
 * The steps every parser of JSON data takes before its schema: the size bound, JSON, an object, and the version
 * (checked first so that a later version with new fields is called unsupported rather than malformed).
 */
export function readVersionedObject(text: unknown): ParseResult<Record<string, unknown>> {
  if (typeof text !== 'string') return fail('malformed', 'not text');
  if (text.length > MAX_MESSAGE_LENGTH)
    return fail('tooLarge', `longer than ${MAX_MESSAGE_LENGTH} characters`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail('malformed', 'not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return fail('malformed', 'not an object');
  const object = json as Record<string, unknown>;
  if (!Object.hasOwn(object, 'version')) return fail('malformed', 'version: missing');
  if (object.version !== MESSAGE_VERSION)
    return fail('unsupportedVersion', `version must be ${MESSAGE_VERSION}`);
  return { ok: true, value: object };
}

/** Parses JSON data against a versioned schema; anything the schema refuses is Table 1 `malformed`. Never throws. */
export function parseVersioned<S extends z.ZodType>(text: string, schema: S): ParseResult<z.output<S>> {
  const object = readVersionedObject(text);
  if (!object.ok) return object;
  const parsed = schema.safeParse(object.value);
  if (!parsed.success) return fail('malformed', describeIssue(parsed.error));
  return { ok: true, value: parsed.data };
}

/** The schema of one event pushed unasked (Table 2 pushes, TPSP events): its name, its fields and when it happened. */
export const eventSchema = <E extends string, T extends z.ZodRawShape>(name: E, shape: T) =>
  z.strictObject({
    version: z.literal(MESSAGE_VERSION),
    event: z.literal(name),
    ...shape,
    at: timestampSchema,
  });

/** A builder's text, once its own parser accepted it; throws MessageError otherwise. */
export function acceptedText<T>(text: string, result: ParseResult<T>): string {
  if (!result.ok) throw new MessageError(result.error.status, result.error.detail);
  return text;
}

const isOperation = (value: unknown): value is Operation =>
  typeof value === 'string' && Object.hasOwn(OPERATIONS, value);

const requestSchemas = new Map(
  OPERATION_NAMES.map((operation) => [
    operation,
    z.strictObject({
      version: z.literal(MESSAGE_VERSION),
      id: requestIdSchema,
      operation: z.literal(operation),
      timestamp: timestampSchema,
      body: OPERATIONS[operation].request,
    }),
  ]),
);

const responseSchemas = new Map(
  OPERATION_NAMES.map((operation) => [
    operation,
    z
      .strictObject({
        version: z.literal(MESSAGE_VERSION),
        id: requestIdSchema.nullable(),
        status: statusCodeSchema,
        message: z.string(),
        body: OPERATIONS[operation].response.optional(),
      })
      .superRefine((response, ctx) => {
        if (response.message !== statusByCode(response.status)?.message)
          ctx.addIssue({ code: 'custom', path: ['message'], message: 'not the Table 1 text of the status' });
        const success = isSuccess(response.status);
        if (success !== (response.body !== undefined))
          ctx.addIssue({
            code: 'custom',
            path: ['body'],
            message: 'a body comes with a success status only',
          });
        if (success && response.id === null)
          ctx.addIssue({ code: 'custom', path: ['id'], message: 'a success answers a known id' });
      }),
  ]),
);

/** Parses a RAC→RAS request; never throws. */
export function parseRequest(text: string): ParseResult<SmartlockRequest> {
  const object = readVersionedObject(text);
  if (!object.ok) return object;
  const operation = object.value.operation;
  if (!isOperation(operation)) return fail('unknownOperation', 'operation: unknown');
  const parsed = requestSchemas.get(operation)!.safeParse(object.value);
  if (!parsed.success) return fail('malformed', describeIssue(parsed.error));
  return { ok: true, value: parsed.data as SmartlockRequest };
}

/** Parses a RAS→RAC response to a request of the given operation (the RAC knows it by the id); never throws. */
export function parseResponse<O extends Operation>(
  text: string,
  operation: O,
): ParseResult<SmartlockResponse<O>> {
  const object = readVersionedObject(text);
  if (!object.ok) return object;
  const parsed = responseSchemas.get(operation)!.safeParse(object.value);
  if (!parsed.success) return fail('malformed', describeIssue(parsed.error));
  return { ok: true, value: parsed.data as SmartlockResponse<O> };
}

/** JSON text of a request; throws MessageError when parseRequest would refuse it. */
export function buildRequest<O extends Operation>(request: {
  id: string;
  operation: O;
  timestamp: string;
  body: RequestBody<O>;
}): string {
  const text = JSON.stringify({
    version: MESSAGE_VERSION,
    id: request.id,
    operation: request.operation,
    timestamp: request.timestamp,
    body: request.body,
  });
  return acceptedText(text, parseRequest(text));
}

/** JSON text of a response, its message taken from Table 1; throws MessageError when parseResponse would refuse it. */
export function buildResponse<O extends Operation>(
  operation: O,
  response: { id: string | null; status: StatusName; body?: ResponseBody<O> },
): string {
  const { code, message } = STATUS[response.status];
  const text = JSON.stringify({
    version: MESSAGE_VERSION,
    id: response.id,
    status: code,
    message,
    body: response.body,
  });
  return acceptedText(text, parseResponse(text, operation));
}
