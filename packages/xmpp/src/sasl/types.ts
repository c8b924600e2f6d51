/**
 * SASL (RFC 4422) as used by XMPP (RFC 6120 §6): the types shared by the server-side mechanisms. The mechanisms are
 * pure state machines; the c2s connection code reads `<auth>`/`<response>`, calls `step()` and writes what it returns.
 */
import type { ScramCredential, ScramHash } from '@irsp/credentials';

/** The defined conditions of RFC 6120 §6.5, sent as `<failure><condition/></failure>`. */
export type SaslFailure =
  | 'aborted'
  | 'account-disabled'
  | 'credentials-expired'
  | 'encryption-required'
  | 'incorrect-encoding'
  | 'invalid-authzid'
  | 'invalid-mechanism'
  | 'malformed-request'
  | 'mechanism-too-weak'
  | 'not-authorized'
  | 'temporary-auth-failure';

/**
 * Looks up the stored credential of a local part (the SASL authcid after SASLprep), or undefined when no such
 * account. A rejection is answered with `temporary-auth-failure`.
 */
export type CredentialLookup = (username: string, hash: ScramHash) => Promise<ScramCredential | undefined>;

export type Step =
  /** Send `<challenge>` (RFC 6120 §6.4.3) with this data. */
  | { kind: 'challenge'; data: Buffer }
  /** Send `<success>` (RFC 6120 §6.4.6), with additional data when present (SCRAM's server-final-message). */
  | { kind: 'success'; username: string; data?: Buffer }
  /** Send `<failure>` (RFC 6120 §6.4.5) with this condition and optional `<text>`. */
  | {
      kind: 'failure';
      condition: SaslFailure;
      text?: string;
      /** The account tried, when known (throttling). */ username?: string;
    };

export interface SaslSession {
  /**
   * Called first with the initial response of `<auth>` (undefined when the element has no character data; an empty
   * Buffer for `=`), then with the data of each `<response>`. After a success or a failure the session is finished
   * and every further call answers `malformed-request`.
   */
  step(response: Buffer | undefined): Promise<Step>;
}

export interface Mechanism {
  /** The name advertised in `<mechanisms>` and matched against `<auth mechanism='…'>`. */
  name: string;
  /** A fresh session for one `<auth>` exchange. */
  start(): SaslSession;
}
