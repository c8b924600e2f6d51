/** The base64 character data of `<auth>`, `<challenge>`, `<response>` and `<success>` (RFC 6120 §6.4.2). */

/** RFC 4648 §4, padded, no whitespace or line breaks. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes the character data of `<auth>` or `<response>`. A single `=` is a response that is present but empty
 * (RFC 6120 §6.4.2), and so is an empty string; anything that is not canonical base64 (RFC 4648 §4: alphabet,
 * padding, zero pad bits, no whitespace) is `incorrect-encoding` (RFC 6120 §6.5.2). For `<auth>`, empty character
 * data means "no initial response": the caller passes `undefined` to `step()` then, not this function's result.
 */
export function decodeSaslData(text: string): Buffer | 'incorrect-encoding' {
  if (text === '=') return Buffer.alloc(0);
  if (!BASE64.test(text)) return 'incorrect-encoding';
  const data = Buffer.from(text, 'base64');
  // Non-zero pad bits ("QR==" for "QQ==") would decode silently to the same bytes: reject them.
  if (data.toString('base64') !== text) return 'incorrect-encoding';
  return data;
}

/** Encodes data for `<challenge>`/`<success>`: `=` when empty (RFC 6120 §6.4.2). */
export function encodeSaslData(data: Buffer | undefined): string {
  return data === undefined || data.length === 0 ? '=' : data.toString('base64');
}
