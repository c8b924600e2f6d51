import type { GuessPolicy } from '@irsp/credentials';
import type { Logger, OperationClient } from '@irsp/http';
import type { Db } from '@irsp/store';
import type { Directory } from './directory.js';

/** Everything the account server's modules need, passed explicitly (no module-level state). */
export interface AccountServerContext {
  db: Db;
  logger: Logger;
  client: OperationClient;
  directory: Directory;
  /** The `password` guessing policy of the client account API, shared by every instance through the database. */
  passwords: GuessPolicy;
}
