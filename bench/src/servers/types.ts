/** What a scenario needs from a server under test, whichever it is. */
export type ServerName = 'irsp' | 'prosody' | 'ejabberd';

export const SERVER_NAMES: readonly ServerName[] = ['irsp', 'prosody', 'ejabberd'];

/** Every server serves the same XMPP domain with a certificate of the run's CA, and the same password. */
export const DOMAIN = 'as1.irsp.test';
export const PASSWORD = 'bench-Passw0rd';

export interface LaunchOptions {
  /** Directory of this server's configuration, data and logs (removed afterwards). */
  dir: string;
  /** PEM files of the run's CA and of the server certificate for DOMAIN and 127.0.0.1. */
  tls: { dir: string; ca: string; certFile: string; keyFile: string };
  /** Command prefix pinning the server to its core (taskset), or empty. */
  prefix: readonly string[];
  /**
   * STARTTLS required; false for the `plain` variants: unencrypted c2s allowed (Prosody, ejabberd), or ours on
   * its listener for a TLS-terminating proxy (`xmpp.plainPort`, SCRAM only).
   */
  requireTls: boolean;
}

export interface ServerUnderTest {
  readonly name: ServerName;
  readonly version: string;
  readonly c2sPort: number;
  /** The process whose tree /proc is read for CPU and RSS. */
  readonly pid: number;
  /** Processes of a database server serving this one (PostgreSQL backends), whose CPU counts as its own. */
  databasePids?(): Iterable<number>;
  /** Its other processes (a cluster's second message server and NATS server), whose CPU and RSS count too. */
  otherPids?(): Iterable<number>;
  /** The c2s port of each of its message servers (a cluster has several; `c2sPort` is the first's). */
  readonly c2sPorts?: readonly number[];
  /** XMPP localpart of a device account: ours are `#name` (clause 3), the others have no devices. */
  deviceLocalpart(name: string): string;
  /** Creates accounts the fastest way the server allows (not measured). */
  createAccounts(names: readonly string[], kind: 'user' | 'device'): Promise<void>;
  /** Registration through the server's own HTTP interface (measured by `register`), if it has one. */
  register?(name: string): Promise<boolean>;
  /** A push to an online account through the server's HTTP interface (measured by `push`), if it has one. */
  push?(localpart: string, data: string): Promise<boolean>;
  /**
   * How many offline messages the server holds for `localpart`, read from its storage by a means of its own — not
   * an answer on an XMPP stream, whose order is the server's: ours counts the committed rows of
   * `offline_messages`, Prosody's the items of its offline list file, ejabberd's answers `get_offline_count`.
   */
  offlineCount(localpart: string): Promise<number>;
  /** A full garbage collection now (ours: Node's), so that a memory sample counts what is live. */
  collectGarbage?(): Promise<void>;
  stop(): Promise<void>;
}
