/** `irsp sessions` and `irsp kick JID`: who is online on which message server, and ending one session. */
import { adminKick, adminSessions, adminUrl } from '@irsp/protocol';
import { CliError, EXIT, usageError } from '../exit.js';
import { autonomousSystem, operatorHeader, type Context, type Result } from '../context.js';
import { refuseUnlessOk } from '../http.js';
import { table } from '../table.js';

export async function sessions(ctx: Context, options: { as?: string }): Promise<Result> {
  const authorization = operatorHeader(ctx);
  const systems = options.as ? [autonomousSystem(ctx, options.as)] : ctx.manifest.autonomousSystems;
  const servers = systems.flatMap((as) => as.messageServers.map((ms) => ({ as: as.domain, ...ms })));
  const held = await Promise.all(
    servers.map(async (ms) => {
      const answer = await ctx.http.json(
        adminSessions.response,
        'GET',
        adminUrl(adminSessions, ms.url),
        authorization,
      );
      return answer.sessions.map((s) => ({ as: ms.as, messageServer: ms.id, ...s }));
    }),
  );
  const all = held.flat();
  return {
    exit: EXIT.ok,
    json: { sessions: all },
    text:
      all.length === 0
        ? 'no sessions'
        : table(
            ['AS', 'MESSAGE SERVER', 'JID', 'SINCE', 'FROM'],
            all.map((s) => [s.as, s.messageServer, s.jid, s.since, s.remoteAddress]),
          ),
  };
}

/** Asks each message server of the JID's AS in turn: the one that holds the session ends it. */
export async function kick(ctx: Context, jid: string): Promise<Result> {
  const authorization = operatorHeader(ctx);
  const match = /^[^@/]+@([^/]+)\/.+$/.exec(jid);
  if (!match) throw usageError(`${jid} is not a full JID (local@domain/resource)`);
  const as = autonomousSystem(ctx, match[1]!);
  for (const ms of as.messageServers) {
    const url = adminUrl(adminKick, ms.url, { jid });
    const answer = await ctx.http.send('DELETE', url, { authorization });
    if (answer.status === 404) continue;
    refuseUnlessOk(answer, url);
    return {
      exit: EXIT.ok,
      json: { kicked: jid, messageServer: ms.id },
      text: `ended ${jid} on ${as.domain} ${ms.id}`,
    };
  }
  throw new CliError(EXIT.failed, `no message server of ${as.domain} holds ${jid}`);
}
