import type { ApplicationServerConfig } from '@irsp/config';
import type { Logger } from '@irsp/http';
import type { Db } from '@irsp/store';

/** Everything an application server's modules need, passed explicitly. */
export interface ApplicationServerContext {
  domain: string;
  config: ApplicationServerConfig;
  db: Db;
  logger: Logger;
  /** Who may call it: its own pair (presented by the message server) and those of the AS's application servers. */
  callers: { appid: string; tokenDigest: Buffer }[];
}
