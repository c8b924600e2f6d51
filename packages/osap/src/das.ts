/**
 * Sections 8–9 (registration over MQTT CONNECT/CONNACK, heartbeats) and Figure 1's attribute, operation and event
 * channels, as a device and a DAS must agree on them. The draft names the channels but no topics, and says the
 * CONNECT carries "username and password" without saying what they hold (docs/osap.md, "The DAS"; decision 0022).
 *
 * Topics: `osap/<DevID>/<channel>/up` from the device, `osap/<DevID>/<channel>/down` to it. A device publishes only
 * on its own `up` topics and subscribes only to its own `down` topics.
 *
 * CONNECT: client identifier and user name are the DevID; the password is `<counter>.<proof>`, where the proof is
 * base64url(HMAC-SHA256(K, "OSAP DAS CONNECT" ‖ 0x00 ‖ DevID ‖ 0x00 ‖ counter as uint32)) and K is derived from the
 * session key by HKDF-SHA256 (info "OSAP DAS connect"), so the AES key is never used as an HMAC key. The counter is
 * the device's uplink counter of the session key: the DAS accepts a CONNECT only above the last one it accepted,
 * and the business payloads of the connection only above the CONNECT's counter. A recorded CONNECT or payload can
 * therefore not be played again, on any DAS, without a clock on the device.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { uint32 } from './bytes.js';
import { fail, ok, OsapError, type OsapResult } from './errors.js';
import { identifierSchema } from './frame.js';
import { KEY_BYTES } from './keys.js';
import { MAX_COUNTER, type Direction } from './business.js';

export const DAS_CHANNELS = ['attribute', 'operation', 'event'] as const;
export type DasChannel = (typeof DAS_CHANNELS)[number];

const TOPIC_ROOT = 'osap';
const SEGMENT: Record<Direction, string> = { deviceToPlatform: 'up', platformToDevice: 'down' };
const CONNECT_LABEL = 'OSAP DAS CONNECT';
const CONNECT_KEY_INFO = 'OSAP DAS connect';

/** A DevID as the DAS takes it: an identifier (keys.ts) that is also one MQTT topic level without wildcards. */
export const dasDevIdSchema = identifierSchema.refine((id) => !/[/+#]/.test(id), 'no / + # in a DevID');

export interface DasTopic {
  devId: string;
  channel: DasChannel;
  direction: Direction;
}

export function dasTopic(devId: string, channel: DasChannel, direction: Direction): string {
  if (!dasDevIdSchema.safeParse(devId).success) throw new OsapError('invalid-input', 'not a DevID');
  return `${TOPIC_ROOT}/${devId}/${channel}/${SEGMENT[direction]}`;
}

/** The device, channel and direction of a topic; undefined for any other topic (wildcards included). */
export function parseDasTopic(topic: string): DasTopic | undefined {
  const [root, devId, channel, segment, ...rest] = topic.split('/');
  if (root !== TOPIC_ROOT || rest.length > 0 || devId === undefined) return undefined;
  if (!dasDevIdSchema.safeParse(devId).success) return undefined;
  if (!DAS_CHANNELS.includes(channel as DasChannel)) return undefined;
  const direction = (Object.keys(SEGMENT) as Direction[]).find((d) => SEGMENT[d] === segment);
  return direction && { devId, channel: channel as DasChannel, direction };
}

function proof(sessionKey: Uint8Array, devId: string, counter: number): Buffer {
  if (sessionKey.length !== KEY_BYTES)
    throw new OsapError('invalid-key', `a session key is ${KEY_BYTES} bytes`);
  const key = Buffer.from(hkdfSync('sha256', sessionKey, new Uint8Array(0), CONNECT_KEY_INFO, 32));
  return createHmac('sha256', key)
    .update(CONNECT_LABEL)
    .update(Uint8Array.of(0))
    .update(devId, 'ascii')
    .update(Uint8Array.of(0))
    .update(uint32(counter))
    .digest();
}

const counterSchema = z.number().int().min(1).max(MAX_COUNTER);

/** The CONNECT password of a device for `counter` (above every counter it used under this session key). */
export function dasConnectPassword(sessionKey: Uint8Array, devId: string, counter: number): string {
  if (!counterSchema.safeParse(counter).success)
    throw new OsapError('invalid-input', `counter must be 1–${MAX_COUNTER}`);
  if (!dasDevIdSchema.safeParse(devId).success) throw new OsapError('invalid-input', 'not a DevID');
  return `${counter}.${proof(sessionKey, devId, counter).toString('base64url')}`;
}

/** The counter a CONNECT password claims, before any key is looked up; never throws. */
export function dasConnectCounter(password: Uint8Array | undefined): OsapResult<number> {
  if (password === undefined || password.length > 64) return fail('malformed', 'no password of the DAS form');
  const match = /^([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{43})$/.exec(Buffer.from(password).toString('latin1'));
  const counter = Number(match?.[1]);
  if (!match || counter > MAX_COUNTER) return fail('malformed', 'no password of the DAS form');
  return ok(counter);
}

/** Checks a CONNECT password against the session key; answers its counter. Never throws. */
export function verifyDasConnectPassword(
  sessionKey: Uint8Array,
  devId: string,
  password: Uint8Array | undefined,
): OsapResult<number> {
  const counter = dasConnectCounter(password);
  if (!counter.ok) return counter;
  if (sessionKey.length !== KEY_BYTES) return fail('invalid-key', `a session key is ${KEY_BYTES} bytes`);
  const claimed = Buffer.from(Buffer.from(password!).toString('latin1').split('.')[1]!, 'base64url');
  const expected = proof(sessionKey, devId, counter.value);
  return claimed.length === expected.length && timingSafeEqual(claimed, expected)
    ? counter
    : fail('integrity', 'the CONNECT proof does not match the session key');
}
