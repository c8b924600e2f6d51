/** The XMPP side of the message server: users and devices log in with the accounts of Messages 1–6. */
import { canonicalLocalPart } from '@irsp/protocol';
import {
  C2sServer,
  type ConnectionBudget,
  LoginThrottle,
  plainMechanism,
  scramMechanism,
  type C2sLimits,
  type CredentialLookup,
  type LoginThrottleOptions,
} from '@irsp/xmpp';
import type { Logger } from '@irsp/http';
import type { CredentialCache } from '../credential-cache.js';
import type { MessageRouter } from './router.js';

export function createC2sServer(options: {
  domain: string;
  credentials: CredentialCache;
  tls: { cert: string; key: string };
  router: MessageRouter;
  logger: Logger;
  limits?: Partial<C2sLimits>;
  throttle?: Partial<LoginThrottleOptions>;
  connections?: ConnectionBudget;
  handshakeTimeoutMs?: number;
  maxResourcesPerAccount?: number;
}): C2sServer {
  const throttle = new LoginThrottle(options.throttle);
  // An account under throttling is not even looked up: the attempt fails with temporary-auth-failure.
  const lookup: CredentialLookup = async (username, hash) => {
    const local = canonicalLocalPart(username);
    if (throttle.accountWait(local) > 0) throw new Error('login throttled');
    return options.credentials.get(local, hash);
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
    ...(options.connections ? { connections: options.connections } : {}),
    ...(options.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: options.handshakeTimeoutMs } : {}),
    ...(options.maxResourcesPerAccount !== undefined
      ? { maxResourcesPerAccount: options.maxResourcesPerAccount }
      : {}),
  });
}
