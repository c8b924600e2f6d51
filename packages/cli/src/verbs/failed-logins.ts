/** `irsp failed-logins`: recent failed password and verification code checks, on every server that checks them. */
import { adminFailedLogins, adminUrl } from '@irsp/protocol';
import { EXIT } from '../exit.js';
import { operatorHeader, type Context, type Result } from '../context.js';
import { table } from '../table.js';

export async function failedLogins(ctx: Context, options: { limit?: string }): Promise<Result> {
  const authorization = operatorHeader(ctx);
  const servers = [
    { server: 'account-server', url: ctx.manifest.accountServer.url },
    ...ctx.manifest.autonomousSystems.flatMap((as) =>
      as.messageServers.map((ms) => ({ server: `${as.domain} ${ms.id}`, url: ms.url })),
    ),
  ];
  const lists = await Promise.all(
    servers.map(async ({ server, url }) => {
      const target = adminUrl(adminFailedLogins, url, {}, { limit: options.limit });
      const { failures } = await ctx.http.json(adminFailedLogins.response, 'GET', target, authorization);
      return failures.map((f) => ({ server, ...f }));
    }),
  );
  const failures = lists.flat().sort((a, b) => b.at.localeCompare(a.at));
  return {
    exit: EXIT.ok,
    json: { failures },
    text:
      failures.length === 0
        ? 'no failed logins'
        : table(
            ['AT', 'SERVER', 'CHECK', 'ACCOUNT', 'SOURCE'],
            failures.map((f) => [f.at, f.server, f.scope, f.target, f.source]),
          ),
  };
}
