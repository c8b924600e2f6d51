/** `irsp status`: the health of every service of the manifest, at once. */
import { adminHealth, adminUrl } from '@irsp/protocol';
import type { CliError } from '../exit.js';
import { operatorHeader, exitOf, type Context, type Result } from '../context.js';
import { duration, table } from '../table.js';
import { parseJson } from '../http.js';

interface ServiceHealth {
  service: string;
  as: string | null;
  name: string | null;
  url: string;
  state: 'healthy' | 'not ready' | 'unreachable' | 'refused';
  uptimeSeconds: number | null;
  detail: string | null;
}

export async function status(ctx: Context): Promise<Result> {
  const authorization = operatorHeader(ctx);
  const admin = async (service: string, url: string, as: string | null, name: string | null) => {
    const base = { service, as, name, url, uptimeSeconds: null, detail: null };
    const target = adminUrl(adminHealth, url);
    try {
      const answer = await ctx.http.send('GET', target, { authorization });
      if (answer.status !== 200) return { ...base, state: 'refused' as const, detail: answer.reason ?? null };
      const health = parseJson(adminHealth.response, answer.body, target);
      return {
        ...base,
        state: health.ready ? ('healthy' as const) : ('not ready' as const),
        uptimeSeconds: health.uptimeSeconds,
      };
    } catch (error) {
      return { ...base, state: 'unreachable' as const, detail: (error as CliError).message };
    }
  };
  // Application servers have no admin API: their /readyz says whether they can work.
  const ready = async (url: string, as: string, name: string) => {
    const base = { service: 'application-server', as, name, url, uptimeSeconds: null, detail: null };
    try {
      const answer = await ctx.http.send('GET', new URL('/readyz', url).toString());
      return { ...base, state: answer.status === 200 ? ('healthy' as const) : ('not ready' as const) };
    } catch (error) {
      return { ...base, state: 'unreachable' as const, detail: (error as CliError).message };
    }
  };
  const { manifest } = ctx;
  const services: ServiceHealth[] = await Promise.all([
    admin('account-server', manifest.accountServer.url, null, null),
    ...manifest.autonomousSystems.flatMap((as) => [
      ...as.messageServers.map((ms) => admin('message-server', ms.url, as.domain, ms.id)),
      ...as.applicationServers.map((app) => ready(app.url, as.domain, app.name)),
    ]),
  ]);
  const healthy = services.every((s) => s.state === 'healthy');
  return {
    exit: exitOf(healthy),
    json: { healthy, services },
    text: table(
      ['SERVICE', 'AS', 'NAME', 'URL', 'STATE', 'UPTIME'],
      services.map((s) => [
        s.service,
        s.as,
        s.name,
        s.url,
        s.detail ? `${s.state} (${s.detail})` : s.state,
        s.uptimeSeconds === null ? null : duration(s.uptimeSeconds),
      ]),
    ),
  };
}
