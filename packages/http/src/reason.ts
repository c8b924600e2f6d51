/**
 * `IRSP-Reason` (our addition, docs/protocol.md 1.7): why a request was refused, for operators and client
 * developers, while the body stays the standard's `<error>…</error>` byte for byte. The same text goes into the
 * request's log line. It is short printable ASCII: what of the caller's input a reason carries (a parameter's
 * name) is bounded and cannot split a header or forge a log line. A reason never names a secret's value.
 */
export const REASON_HEADER = 'irsp-reason';

export const MAX_REASON_LENGTH = 100;

export function reasonText(reason: string): string {
  const printable = reason.replace(/[^\x20-\x7e]/g, '?').trim();
  return printable.length > MAX_REASON_LENGTH ? `${printable.slice(0, MAX_REASON_LENGTH - 3)}...` : printable;
}
