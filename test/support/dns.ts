/**
 * A DNS server on loopback (UDP) that answers SRV questions from a table, as an operator's zone would hold the
 * records of an AS (RFC 6120 §3.2, XEP-0368). Node's resolver is pointed at it with `dns.setServers`, so real clients
 * that look the records up themselves (@xmpp/client, our s2s resolver) find them as they would in production.
 */
import { createSocket } from 'node:dgram';
import dns from 'node:dns';
import { once } from 'node:events';
import packet from 'dns-packet';

export interface SrvAnswer {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface LoopbackDns {
  /** `127.0.0.1:<port>`, for `dns.setServers`. */
  address: string;
  /** Replaces the records of `name` (`_xmpp-client._tcp.as1.irsp.test`); none: the name does not exist. */
  setSrv(name: string, answers: SrvAnswer[]): void;
  /** Every SRV name asked so far, in order. */
  asked: string[];
  close(): Promise<void>;
}

export async function startLoopbackDns(): Promise<LoopbackDns> {
  const zone = new Map<string, SrvAnswer[]>();
  const asked: string[] = [];
  const socket = createSocket('udp4');
  socket.on('message', (message, peer) => {
    let query: packet.Packet;
    try {
      query = packet.decode(message);
    } catch {
      return; // not DNS: no answer, as a server would drop it
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase();
    if (question.type === 'SRV') asked.push(name);
    const records = question.type === 'SRV' ? zone.get(name) : undefined;
    const reply = packet.encode({
      id: query.id,
      type: 'response',
      // Authoritative answer, recursion desired/available echoed; NXDOMAIN (rcode 3) when the name is unknown.
      flags:
        packet.AUTHORITATIVE_ANSWER |
        packet.RECURSION_DESIRED |
        packet.RECURSION_AVAILABLE |
        (records ? 0 : 3),
      questions: [question],
      answers: (records ?? []).map((data) => ({ type: 'SRV' as const, name: question.name, ttl: 60, data })),
    });
    socket.send(reply, peer.port, peer.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    address: `127.0.0.1:${socket.address().port}`,
    setSrv: (name, answers) => {
      if (answers.length === 0) zone.delete(name.toLowerCase());
      else zone.set(name.toLowerCase(), answers);
    },
    asked,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

/**
 * Names that resolve to addresses for `dns.lookup` (getaddrinfo, which reads /etc/hosts and the system's resolver,
 * not `dns.setServers`), as the zone's A records would; every other name is looked up as before. Returns the undo.
 */
export function withHosts(hosts: Record<string, string>): () => void {
  const original = dns.lookup;
  const known = new Map(Object.entries(hosts).map(([name, address]) => [name.toLowerCase(), address]));
  const patched = ((hostname: string, options: unknown, callback?: unknown) => {
    const address = known.get(hostname.toLowerCase());
    const done = (typeof options === 'function' ? options : callback) as (
      error: NodeJS.ErrnoException | null,
      address: string | dns.LookupAddress[],
      family?: number,
    ) => void;
    if (address === undefined) return (original as (...args: unknown[]) => void)(hostname, options, callback);
    const all =
      typeof options === 'object' && options !== null && (options as dns.LookupOptions).all === true;
    process.nextTick(() => (all ? done(null, [{ address, family: 4 }]) : done(null, address, 4)));
  }) as typeof dns.lookup;
  dns.lookup = patched;
  return () => {
    dns.lookup = original;
  };
}
