import type { MessageServerConfig } from '@irsp/config';
import type { Logger } from '@irsp/http';
import type { Db } from '@irsp/store';
import type { CredentialCache } from './credential-cache.js';
import type { Outbox } from './outbox.js';
import type { MessageRouter } from './xmpp/router.js';

/** Everything a message server's modules need, passed explicitly (no module-level state). */
export interface MessageServerContext {
  /** The AS domain this message server serves. */
  domain: string;
  config: MessageServerConfig;
  accountServerUrl: string;
  db: Db;
  /** The SCRAM credentials logins read; Messages 3–6 make it forget what they change. */
  credentials: CredentialCache;
  logger: Logger;
  outbox: Outbox;
  /** SHA-256 of the account server's token: the token itself is never kept (DESIGN "Storage"). */
  accountServerTokenDigest: Buffer;
  /** Online sessions (XMPP, and OSAP devices' DAS connections) and the rules that route between them. */
  router: MessageRouter;
  /** PBKDF2 rounds of the OSAP share keys derived when a device's code is set (decision 0020). */
  shareKeyIterations: number;
  /** The application servers of this AS (clause 8.3): their XMPP address and the digest of their token. */
  applicationServers: { name: string; jid: string; appid: string; tokenDigest: Buffer }[];
}
