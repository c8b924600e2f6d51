import type { ApplicationServerConfig, PeerConfig } from '@irsp/config';
import type { Logger, OperationClient } from '@irsp/http';
import type { Db } from '@irsp/store';
import type { Application } from './application.js';
import type { NonceStore } from './nonces.js';
import type { SignedClient } from './signed-client.js';

/** An application server of the same AS, as a target of Messages 14–15. */
export interface LocalApplicationServer {
  name: string;
  url: string;
  exchangeUri: string;
  /** What it presents in Messages 14–15, so an application can tell which server sent one. */
  appid: string;
  /** The third parties of its gateway application (clause 8.8), when it runs one. */
  thirdParties: readonly string[];
}

/** Everything an application server's modules need, passed explicitly. */
export interface ApplicationServerContext {
  domain: string;
  config: ApplicationServerConfig;
  db: Db;
  logger: Logger;
  /** Who may call it: its own pair (presented by the message server) and those of the AS's application servers. */
  callers: { appid: string; tokenDigest: Buffer }[];
  /** The other application servers of the AS (Messages 14–15, clause 8.4). */
  localServers: readonly LocalApplicationServer[];
  /** Application servers of other ASs (Messages 14–15, clause 8.6). */
  peers: readonly PeerConfig[];
  /** The message servers of the AS, in order of preference (Messages 12–13). */
  messageServers: readonly { url: string; pushUri: string }[];
  client: OperationClient;
  signedClient: SignedClient;
  nonces: NonceStore;
  /** The applications it runs, in the topology's order (each receives every message, in that order). */
  applications: readonly Application[];
  /** Wakes the send outbox: a transaction that may have queued Messages 12–15 committed. */
  sendsQueued: () => void;
}
