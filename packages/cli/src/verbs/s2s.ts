/** `irsp s2s`: the XMPP federation links of every message server (clause 8.5): peer, direction, how, since. */
import { adminS2s, adminUrl } from '@irsp/protocol';
import { EXIT } from '../exit.js';
import { operatorHeader, type Context, type Result } from '../context.js';
import { table } from '../table.js';

export async function s2s(ctx: Context): Promise<Result> {
  const authorization = operatorHeader(ctx);
  const servers = ctx.manifest.autonomousSystems.flatMap((as) =>
    as.messageServers.map((ms) => ({ as: as.domain, ...ms })),
  );
  const lists = await Promise.all(
    servers.map(async (ms) => {
      const { links } = await ctx.http.json(
        adminS2s.response,
        'GET',
        adminUrl(adminS2s, ms.url),
        authorization,
      );
      return links.map((l) => ({ messageServer: ms.id, ...l }));
    }),
  );
  const links = lists.flat();
  return {
    exit: EXIT.ok,
    json: { links },
    text:
      links.length === 0
        ? 'no s2s links (a link opens when a stanza first goes to another domain)'
        : table(
            ['AS', 'MESSAGE SERVER', 'PEER', 'DIRECTION', 'AUTHENTICATED BY', 'SINCE'],
            links.map((l) => [l.local, l.messageServer, l.peer, l.direction, l.method, l.since]),
          ),
  };
}
