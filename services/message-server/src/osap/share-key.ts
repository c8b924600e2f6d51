/**
 * The OSAP share key of a device account (decision 0020). The device `#serial@as` authenticates at the LBS with
 * serial number `serial` and the verification code of its account; the message server sees that code in clear only
 * when it is set (Messages 2 and 4, the reset iq) and keeps its hash for XMPP bindings, so it derives the share key
 * then and keeps it next to the hash.
 */
import { SHARE_KEY_DEFAULTS, identifierSchema, shareKeyAsync, verificationCodeSchema } from '@irsp/osap';

/** An OSAP serial number names the device account whose local part is `#` and the serial number. */
export const deviceLocalOf = (serialNumber: string): string => `#${serialNumber}`;

export interface StoredShareKey {
  key: Buffer | null;
  /** The PBKDF2 rounds it took, so that a change of configuration does not silently mismatch. */
  iterations: number | null;
}

export const NO_SHARE_KEY: StoredShareKey = { key: null, iterations: null };

/**
 * The share key for a device account's new code: none when the code is cleared, or when the code or serial number
 * is outside what OSAP carries (1–64 printable ASCII characters) — such a device can bind over XMPP but not use OSAP.
 */
export async function deriveShareKey(
  deviceLocal: string,
  code: string | undefined,
  iterations: number = SHARE_KEY_DEFAULTS.iterations,
): Promise<StoredShareKey> {
  const serial = deviceLocal.slice(1);
  if (
    !deviceLocal.startsWith('#') ||
    !identifierSchema.safeParse(serial).success ||
    !verificationCodeSchema.safeParse(code).success
  )
    return NO_SHARE_KEY;
  return { key: Buffer.from(await shareKeyAsync(code!, serial, { iterations })), iterations };
}
