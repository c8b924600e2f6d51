/**
 * Where to connect for a remote domain (RFC 6120 §3.2): static routes first (test ASs on loopback, partners with
 * fixed addresses), else the DNS SRV records `_xmpp-server._tcp.<domain>` in RFC 2782 order, else the domain
 * itself on the default port 5269 (§3.2.2 fallback).
 */
import { resolveSrv as dnsResolveSrv } from 'node:dns/promises';

export interface S2sCandidate {
  host: string;
  port: number;
}

/** Static routes by domain: one address or several, tried in order. */
export type S2sRoutes = Record<string, S2sCandidate | readonly S2sCandidate[]>;

/** Candidates for a domain, in the order they are to be tried; empty when the domain has no service. */
export type S2sResolver = (domain: string) => Promise<S2sCandidate[]>;

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

export interface ResolverOptions {
  routes?: S2sRoutes;
  /** SRV lookup (default node:dns); a rejection (no record, DNS failure) means "use the fallback". */
  resolveSrv?: (name: string) => Promise<SrvRecord[]>;
  /** For the weighted choice among records of one priority (tests). */
  random?: () => number;
}

export const XMPP_SERVER_PORT = 5269;

export function createResolver(options: ResolverOptions = {}): S2sResolver {
  const routes = options.routes ?? {};
  const resolveSrv = options.resolveSrv ?? dnsResolveSrv;
  const random = options.random ?? Math.random;
  return async (domain) => {
    const route = Object.hasOwn(routes, domain) ? routes[domain] : undefined;
    if (route !== undefined) return Array.isArray(route) ? [...route] : [route as S2sCandidate];
    let records: SrvRecord[];
    try {
      records = await resolveSrv(`_xmpp-server._tcp.${domain}`);
    } catch {
      // No record, or the lookup failed: the domain itself on the default port (RFC 6120 §3.2.2).
      return [{ host: domain, port: XMPP_SERVER_PORT }];
    }
    // RFC 2782: a single record with target "." means the service is decidedly not available.
    if (records.length === 1 && (records[0]!.name === '.' || records[0]!.name === '')) return [];
    if (records.length === 0) return [{ host: domain, port: XMPP_SERVER_PORT }];
    return orderSrv(records, random).map((r) => ({ host: r.name.replace(/\.$/, ''), port: r.port }));
  };
}

/**
 * RFC 2782 "Usage rules": ascending priority; within one priority, repeatedly pick a record at random with
 * probability proportional to its weight (records of weight 0 first in the running order, so they have a small
 * chance when others have weight).
 */
export function orderSrv(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>();
  for (const record of records) {
    const group = byPriority.get(record.priority) ?? [];
    group.push(record);
    byPriority.set(record.priority, group);
  }
  const ordered: SrvRecord[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const remaining = [...byPriority.get(priority)!].sort(
      (a, b) => (a.weight === 0 ? -1 : 0) - (b.weight === 0 ? -1 : 0),
    );
    while (remaining.length > 0) {
      const total = remaining.reduce((sum, r) => sum + r.weight, 0);
      const threshold = Math.floor(random() * (total + 1)); // an integer in [0, total]
      let running = 0;
      let index = remaining.length - 1;
      for (let i = 0; i < remaining.length; i++) {
        running += remaining[i]!.weight;
        if (running >= threshold) {
          index = i;
          break;
        }
      }
      ordered.push(...remaining.splice(index, 1));
    }
  }
  return ordered;
}
