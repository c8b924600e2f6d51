/** An authenticated server-to-server stream as operators see it (RFC 6120 §13): who, which way, how, since. */
export type S2sAuthMethod = 'sasl-external' | 'dialback';

export interface S2sLink {
  /** Our domain. */
  local: string;
  /** The peer's domain. */
  remote: string;
  direction: 'incoming' | 'outgoing';
  method: S2sAuthMethod;
  since: Date;
}
