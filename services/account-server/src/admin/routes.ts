/** The account server's admin API (@irsp/protocol admin.ts): its accounts, failed logins and health. */
import { adminRoute, type AdminRoute } from '@irsp/http';
import {
  adminAccount,
  adminAccounts,
  adminFailedLogins,
  adminHealth,
  adminRemoveAccount,
  formatAccountId,
} from '@irsp/protocol';
import { recentFailures } from '@irsp/credentials';
import { removeAccount } from '../accounts.js';
import type { AccountServerContext } from '../context.js';

interface AccountRow {
  local_part: string;
  kind: 'user' | 'device';
  domain: string;
  state: 'pending' | 'active' | 'removing';
  device_type: string | null;
  vendor: string | null;
  model: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

const iso = (value: Date | string) => new Date(value).toISOString();

function summary(row: AccountRow) {
  return {
    id: formatAccountId({ local: row.local_part, domain: row.domain }),
    kind: row.kind,
    state: row.state,
    createdAt: iso(row.created_at),
  };
}

export function adminRoutes(context: AccountServerContext, startedAt: number): AdminRoute[] {
  const { db } = context;
  return [
    adminRoute(adminHealth, async () => ({
      service: 'account-server' as const,
      ready: await db
        .query('SELECT 1')
        .then((r) => r.rowCount === 1)
        .catch(() => false),
      uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
    })),
    adminRoute(adminAccounts, async ({ query }) => {
      // The search is a plain substring of the ID (`local@domain`): LIKE's own wildcards in it are escaped.
      const pattern = `%${(query.search ?? '').toLowerCase().replace(/[\\%_]/g, '\\$&')}%`;
      const r = await db.query<AccountRow>(
        `SELECT * FROM accounts WHERE (local_part || '@' || domain) LIKE $1 ORDER BY created_at, local_part LIMIT $2`,
        [pattern, query.limit],
      );
      return { accounts: r.rows.map(summary) };
    }),
    adminRoute(adminAccount, async ({ params }) => {
      const r = await db.query<AccountRow>('SELECT * FROM accounts WHERE local_part = $1 AND domain = $2', [
        params.id.local,
        params.id.domain,
      ]);
      const row = r.rows[0];
      if (!row) return { status: 404, reason: 'no such account' };
      return {
        account: {
          ...summary(row),
          domain: row.domain,
          type: row.device_type,
          vendor: row.vendor,
          model: row.model,
          updatedAt: iso(row.updated_at),
        },
      };
    }),
    adminRoute(adminRemoveAccount, async ({ params: { id } }) => {
      const r = await db.query(
        `SELECT 1 FROM accounts WHERE local_part = $1 AND domain = $2 AND state IN ('active', 'removing')`,
        [id.local, id.domain],
      );
      if (r.rowCount === 0) return { status: 404, reason: 'no such account' };
      context.logger.info({ localPart: id.local, domain: id.domain }, 'account removed by an operator');
      return (await removeAccount(context, id)) === 200
        ? { removed: formatAccountId(id) }
        : { status: 500, reason: 'removal not confirmed by the message server: the reconciler finishes it' };
    }),
    adminRoute(adminFailedLogins, async ({ query }) => ({ failures: await recentFailures(db, query.limit) })),
  ];
}
