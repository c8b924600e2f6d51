/**
 * 10. Delivery across the message servers of one AS (ours only; issue 15): the `throughput` exchange (50 related
 * pairs, 200-byte messages, at most 10 unanswered each) with each pair's two users on different servers of a
 * cluster on NATS, against the same exchange on one message server, both on PostgreSQL. The server's CPU of the
 * cluster is both message servers', the NATS server's and the database backends'.
 */
import { STARTTLS, type Scenario } from './context.js';
import { exchange } from './throughput.js';

export const clusterScenario: Scenario = {
  name: 'cluster',
  supports: (server) =>
    server === 'irsp' ? true : 'several message servers of one AS on NATS are ours: the IRSP only',
  variants: () => [
    { ...STARTTLS, label: 'one-server', postgresOnly: true },
    { ...STARTTLS, label: 'two-servers', postgresOnly: true, cluster: true },
  ],
  async run(ctx) {
    const ports = ctx.server.c2sPorts ?? [ctx.server.c2sPort];
    // Pair p is users 2p and 2p + 1: on two servers, one on each.
    return exchange(ctx, 'cl', (user) => ports[user % ports.length]!);
  },
};
