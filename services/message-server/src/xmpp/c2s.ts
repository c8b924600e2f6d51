/** The XMPP side of the message server: users and devices log in with the accounts of Messages 1–6. */
import { addressSource, type GuessPolicy } from '@irsp/credentials';
import { canonicalLocalPart } from '@irsp/protocol';
import {
  C2sServer,
  type ConnectionBudget,
  plainMechanism,
  scramMechanism,
  type C2sLimits,
  type CredentialLookup,
  type LoginGuard,
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
  /** The `password` guessing policy, shared with every message server of the AS through the database. */
  passwords: GuessPolicy;
  /** The socket budget shared with the process's other listeners. */
  connections?: ConnectionBudget;
  handshakeTimeoutMs?: number;
  maxResourcesPerAccount?: number;
  /** Keys the SCRAM salts answered for unknown users (shared by the message servers of a cluster). */
  unknownUserKey?: Buffer;
  /** In a cluster: a `<resume/>` with another server's id ends that session there first (decision 0024). */
  resumeElsewhere?: (previd: string, username: string) => Promise<void>;
}): C2sServer {
  const lookup: CredentialLookup = (username, hash) =>
    options.credentials.get(canonicalLocalPart(username), hash);
  const scram = options.unknownUserKey ? { unknownUserKey: options.unknownUserKey } : {};
  return new C2sServer({
    domain: options.domain,
    tls: options.tls,
    // Strongest first; PLAIN is only offered after STARTTLS, as every mechanism is (RFC 6120 §6.4.1).
    mechanisms: [
      scramMechanism('sha256', lookup, scram),
      scramMechanism('sha1', lookup, scram),
      plainMechanism(lookup),
    ],
    router: options.router,
    logger: options.logger,
    limits: options.limits,
    throttle: loginGuard(options.passwords, options.logger),
    ...(options.connections ? { connections: options.connections } : {}),
    ...(options.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: options.handshakeTimeoutMs } : {}),
    ...(options.maxResourcesPerAccount !== undefined
      ? { maxResourcesPerAccount: options.maxResourcesPerAccount }
      : {}),
    ...(options.resumeElsewhere ? { resumeElsewhere: options.resumeElsewhere } : {}),
  });
}

/** The c2s engine's guard on the shared policy; a database that fails refuses the attempt (fails closed). */
export function loginGuard(policy: GuessPolicy, logger: Logger): LoginGuard {
  return {
    addressWait: (address) => policy.sourceWait(addressSource(address)),
    async admit(address, account) {
      const source = addressSource(address);
      try {
        const verdict = await policy.admit(account, source);
        if (!verdict.allowed) {
          logger.info(
            { account, source, limit: verdict.limit, retryAfterMs: verdict.retryAfterMs },
            'login attempt refused by the guessing throttle',
          );
          return 'refused';
        }
        return {
          settle: (right) =>
            (right ? policy.succeeded(verdict.ticket) : policy.failed(verdict.ticket)).catch(
              (error: unknown) =>
                logger.error({ err: error, account }, 'login attempt not settled in the guessing throttle'),
            ),
        };
      } catch (error) {
        logger.error({ err: error, account }, 'guessing throttle unavailable: login attempt refused');
        return 'refused';
      }
    },
  };
}
