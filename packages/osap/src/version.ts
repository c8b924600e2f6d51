/**
 * Section 6, Figure 3 and Table 2 (the first of the draft's two tables titled "Protocol version definition"):
 * PROTOCOL-VERSION, three "char"s, which we read as three unsigned bytes.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION_BYTES = 3;

const versionByte = z.number().int().min(0).max(255);
export const protocolVersionSchema = z.strictObject({
  /** Version of the protocol form: the byte layout of docs/osap.md. A receiver cannot read another form. */
  FORM_VERSION: versionByte,
  /** Version of the protocol type, high part: incompatible changes of the message bodies. */
  HIGH_TYPE_VERSION: versionByte,
  /** Version of the protocol type, low part: compatible additions; a receiver accepts any. */
  LOW_TYPE_VERSION: versionByte,
});
export type ProtocolVersion = z.output<typeof protocolVersionSchema>;

/** What this package writes: form 1, type 1.0 (the bodies of docs/osap.md). */
export const OSAP_VERSION: ProtocolVersion = Object.freeze({
  FORM_VERSION: 1,
  HIGH_TYPE_VERSION: 1,
  LOW_TYPE_VERSION: 0,
});

export const encodeProtocolVersion = (version: ProtocolVersion): Uint8Array =>
  Uint8Array.of(version.FORM_VERSION, version.HIGH_TYPE_VERSION, version.LOW_TYPE_VERSION);

/** Whether we can read what a peer wrote under this version. */
export const isSupportedVersion = (version: ProtocolVersion): boolean =>
  version.FORM_VERSION === OSAP_VERSION.FORM_VERSION &&
  version.HIGH_TYPE_VERSION === OSAP_VERSION.HIGH_TYPE_VERSION;
