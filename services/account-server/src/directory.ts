/**
 * The directory of ASs the account server serves: which message servers hold the accounts of a domain, what
 * the account server presents to them (Messages 1–6), and which message servers may send Message 7.
 */
import type { Credential, Topology } from '@irsp/config';
import { tokenDigest, tokenMatches } from '@irsp/credentials';
import type { Extras, MessageDef, ParamsIn } from '@irsp/protocol';
import type { OperationClient, SendOutcome } from '@irsp/http';

export interface AutonomousSystemEntry {
  domain: string;
  messageServers: { id: string; url: string; credential: Credential }[];
  /** The Message 7 callers of this AS: the appid of each message server and the SHA-256 of its token. */
  callers: { appid: string; tokenDigest: Buffer }[];
}

export class Directory {
  private readonly byDomain = new Map<string, AutonomousSystemEntry>();

  constructor(topology: Pick<Topology, 'autonomousSystems'>) {
    for (const as of topology.autonomousSystems) {
      this.byDomain.set(as.domain, {
        domain: as.domain,
        messageServers: as.messageServers.map((ms) => ({
          id: ms.id,
          url: ms.url,
          credential: ms.credentials.accountServer,
        })),
        callers: as.messageServers.map((ms) => ({
          appid: ms.credentials.toAccountServer.appid,
          tokenDigest: tokenDigest(ms.credentials.toAccountServer.token),
        })),
      });
    }
  }

  as(domain: string): AutonomousSystemEntry | undefined {
    return this.byDomain.get(domain);
  }

  /** The AS whose message server presents these Message 7 credentials. */
  caller(appid: string | undefined, token: string | undefined): AutonomousSystemEntry | undefined {
    if (appid === undefined || token === undefined) return undefined;
    for (const as of this.byDomain.values()) {
      if (as.callers.some((c) => c.appid === appid && tokenMatches(token, c.tokenDigest))) return as;
    }
    return undefined;
  }
}

type WithoutAuth<O extends MessageDef> = Omit<ParamsIn<O>, 'version' | 'appid' | 'token'>;

/**
 * Sends one of Messages 1–6 to the AS: to its first message server, and on to the next only when one cannot
 * be reached (they share the AS's accounts, clause 7.2).
 */
export async function sendToAs<O extends MessageDef>(
  client: OperationClient,
  as: AutonomousSystemEntry,
  operation: O,
  params: WithoutAuth<O>,
  extra?: Extras,
): Promise<SendOutcome> {
  let outcome: SendOutcome = { kind: 'unreachable', reason: 'no message server' };
  for (const ms of as.messageServers) {
    const full = { version: '1', ...ms.credential, ...params } as unknown as ParamsIn<O>;
    outcome = await client.send(operation, ms.url, full, extra ? { extra } : {});
    if (outcome.kind !== 'unreachable') return outcome;
  }
  return outcome;
}
