/**
 * A message server's admin API (@irsp/protocol admin.ts): an account's relationships, devices and sessions in this
 * AS, the sessions this server holds (and ending one), the outbox's backlog, failed logins and health.
 */
import { recentFailures } from '@irsp/credentials';
import { adminRoute, type AdminRoute } from '@irsp/http';
import {
  adminAccountRelations,
  adminFailedLogins,
  adminHealth,
  adminKick,
  adminOutbox,
  adminS2s,
  adminSessions,
  formatAccountId,
} from '@irsp/protocol';
import { jidToString, parseJid, type S2sServer } from '@irsp/xmpp';
import type { MessageServerContext } from '../context.js';
import { outboxBacklog } from './outbox-backlog.js';

const iso = (value: Date | string) => new Date(value).toISOString();

/** `s2s`: the federation engine, when this server federates (xmpp.s2sPort). */
export function adminRoutes(
  context: MessageServerContext,
  startedAt: number,
  s2s: S2sServer | undefined,
): AdminRoute[] {
  const { db, domain, router } = context;
  const serverId = context.config.id;
  return [
    adminRoute(adminHealth, async () => ({
      service: 'message-server' as const,
      domain,
      messageServer: serverId,
      ready: await db
        .query('SELECT 1')
        .then((r) => r.rowCount === 1)
        .catch(() => false),
      uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
    })),
    adminRoute(adminAccountRelations, async ({ params: { id } }) => {
      if (id.domain !== domain) return { status: 404, reason: `not an account of ${domain}` };
      const exists = await db.query('SELECT 1 FROM accounts WHERE local_part = $1', [id.local]);
      if (exists.rowCount === 0) return { status: 404, reason: 'no such account' };
      const bare = formatAccountId(id);
      const [roster, devices, owner, rights, sessions] = await Promise.all([
        db.query<{ contact: string; subscription: 'none' | 'to' | 'from' | 'both'; ask: boolean }>(
          'SELECT contact, subscription, ask FROM roster WHERE owner = $1 ORDER BY contact',
          [id.local],
        ),
        db.query<{ device: string; since: Date | string }>(
          'SELECT device, since FROM device_owners WHERE owner = $1 ORDER BY device',
          [bare],
        ),
        db.query<{ owner: string }>('SELECT owner FROM device_owners WHERE device = $1', [id.local]),
        db.query<{ user_jid: string }>(
          'SELECT user_jid FROM access_rights WHERE device = $1 ORDER BY user_jid',
          [id.local],
        ),
        db.query<{ resource: string; server_id: string; since: Date | string }>(
          'SELECT resource, server_id, since FROM online_sessions WHERE local_part = $1 ORDER BY resource',
          [id.local],
        ),
      ]);
      return {
        id: bare,
        relationships: roster.rows,
        devices: devices.rows.map((d) => ({ id: `${d.device}@${domain}`, since: iso(d.since) })),
        owner: owner.rows[0]?.owner ?? null,
        accessRights: rights.rows.map((r) => r.user_jid),
        sessions: sessions.rows.map((s) => ({
          resource: s.resource,
          messageServer: s.server_id,
          since: iso(s.since),
        })),
      };
    }),
    adminRoute(adminSessions, async () => {
      const since = await db.query<{ local_part: string; resource: string; since: Date | string }>(
        'SELECT local_part, resource, since FROM online_sessions WHERE server_id = $1',
        [serverId],
      );
      const sinceOf = new Map(since.rows.map((r) => [`${r.local_part}/${r.resource}`, iso(r.since)]));
      const sessions = router.sessions.keys().flatMap(({ local, resource }) => {
        const session = router.sessions.resource(local, resource);
        if (!session) return [];
        return [
          {
            jid: jidToString(session.jid),
            // A session bound a moment ago may not be written yet: it is online from now.
            since: sinceOf.get(`${local}/${resource}`) ?? new Date().toISOString(),
            remoteAddress: session.remoteAddress ?? null,
          },
        ];
      });
      return { sessions: sessions.sort((a, b) => a.jid.localeCompare(b.jid)) };
    }),
    adminRoute(adminKick, async ({ params }) => {
      const jid = parseJid(params.jid);
      if (!jid?.local || jid.resource === undefined || jid.domain !== domain)
        return { status: 404, reason: `not a full JID of ${domain}` };
      const session = router.sessions.resource(jid.local, jid.resource);
      if (!session) return { status: 404, reason: 'no such session on this message server' };
      context.logger.info({ jid: jidToString(jid) }, 'session ended by an operator');
      session.close('policy-violation', 'ended by an operator');
      return { kicked: jidToString(jid) };
    }),
    adminRoute(adminOutbox, async () => outboxBacklog(db)),
    adminRoute(adminS2s, async () => ({
      links: (s2s?.links() ?? []).map((l) => ({
        local: l.local,
        peer: l.remote,
        direction: l.direction,
        method: l.method,
        since: l.since.toISOString(),
      })),
    })),
    adminRoute(adminFailedLogins, async ({ query }) => ({ failures: await recentFailures(db, query.limit) })),
  ];
}
