/** The XMPP side of the message server: users and devices log in with the accounts of Messages 1–6. */
import type { ScramCredential, ScramHash } from '@irsp/credentials';
import { canonicalLocalPart } from '@irsp/protocol';
import type { Db } from '@irsp/store';
import {
  C2sServer,
  LoginThrottle,
  plainMechanism,
  scramMechanism,
  type C2sLimits,
  type CredentialLookup,
  type LoginThrottleOptions,
} from '@irsp/xmpp';
import type { Logger } from '@irsp/http';
import type { MessageRouter } from './router.js';

/** The SCRAM credential stored by Message 1–4 for a local part (a user or a `#device`). */
export function credentialLookup(db: Db): CredentialLookup {
  return async (username: string, hash: ScramHash): Promise<ScramCredential | undefined> => {
    const column = hash === 'sha1' ? 'scram_sha1' : 'scram_sha256';
    const result = await db.query<{ credential: ScramCredential }>(
      `SELECT ${column} AS credential FROM accounts WHERE local_part = $1`,
      [canonicalLocalPart(username)],
    );
    return result.rows[0]?.credential;
  };
}

export function createC2sServer(options: {
  domain: string;
  db: Db;
  tls: { cert: string; key: string };
  router: MessageRouter;
  logger: Logger;
  limits?: Partial<C2sLimits>;
  throttle?: Partial<LoginThrottleOptions>;
}): C2sServer {
  const throttle = new LoginThrottle(options.throttle);
  const stored = credentialLookup(options.db);
  // An account under throttling is not even looked up: the attempt fails with temporary-auth-failure.
  const lookup: CredentialLookup = async (username, hash) => {
    if (throttle.accountWait(canonicalLocalPart(username)) > 0) throw new Error('login throttled');
    return stored(username, hash);
  };
  return new C2sServer({
    domain: options.domain,
    tls: options.tls,
    // Strongest first; PLAIN is only offered after STARTTLS, as every mechanism is (RFC 6120 §6.4.1).
    mechanisms: [scramMechanism('sha256', lookup), scramMechanism('sha1', lookup), plainMechanism(lookup)],
    router: options.router,
    logger: options.logger,
    limits: options.limits,
    throttle,
  });
}
