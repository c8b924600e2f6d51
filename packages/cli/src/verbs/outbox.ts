/** `irsp outbox`: what each message server still has to deliver, per receiver. */
import { adminOutbox, adminUrl } from '@irsp/protocol';
import { EXIT } from '../exit.js';
import { operatorHeader, type Context, type Result } from '../context.js';
import { duration, table } from '../table.js';

export async function outbox(ctx: Context): Promise<Result> {
  const authorization = operatorHeader(ctx);
  const servers = ctx.manifest.autonomousSystems.flatMap((as) =>
    as.messageServers.map((ms) => ({ as: as.domain, ...ms })),
  );
  const backlogs = await Promise.all(
    servers.map(async (ms) => ({
      as: ms.as,
      messageServer: ms.id,
      ...(await ctx.http.json(adminOutbox.response, 'GET', adminUrl(adminOutbox, ms.url), authorization)),
    })),
  );
  const rows = backlogs.flatMap((b) =>
    b.outbox.map((o) => [
      b.as,
      b.messageServer,
      o.target,
      o.count,
      duration(o.oldestAgeSeconds),
      o.lastError,
    ]),
  );
  const dead = backlogs.map((b) => `${b.as} ${b.messageServer}: ${b.deadLetters} dead letters`);
  return {
    exit: EXIT.ok,
    json: { messageServers: backlogs },
    text: [
      rows.length === 0
        ? 'nothing waiting'
        : table(['AS', 'MESSAGE SERVER', 'TO', 'WAITING', 'OLDEST', 'LAST ERROR'], rows),
      ...dead,
    ].join('\n'),
  };
}
