import { tokenMatches } from '@irsp/credentials';
import type { ApplicationServerContext } from './context.js';

/** HTTP Basic `appid:token` of this application server itself (operator interfaces: /received, /send). */
export function isOwnCredential(
  ctx: ApplicationServerContext,
  header: string | undefined,
  ownDigest: Buffer,
): boolean {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!match) return false;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return (
    colon > 0 &&
    decoded.slice(0, colon) === ctx.config.credentials.appid &&
    tokenMatches(decoded.slice(colon + 1), ownDigest)
  );
}
