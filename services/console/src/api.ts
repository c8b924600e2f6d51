/**
 * The console's one call: `GET /admin/console` of the account server serving the page, with the operator's name and
 * password as HTTP Basic. They live in this module's memory only (never in a URL or storage): reloading the page
 * logs out.
 */
import { adminConsole, type AdminAnswer } from '@irsp/protocol/browser';

export type Overview = AdminAnswer<typeof adminConsole>;

export type Fetched =
  { ok: true; overview: Overview } | { ok: false; kind: 'refused' | 'throttled' | 'failed'; message: string };

/** `Basic base64(name:password)` of UTF-8 bytes, as the servers decode it. */
function basic(name: string, password: string): string {
  const bytes = new TextEncoder().encode(`${name}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

export class ConsoleApi {
  private authorization: string | undefined;

  get loggedIn(): boolean {
    return this.authorization !== undefined;
  }

  /** Tries the credentials: kept only when the server accepts them. */
  async logIn(name: string, password: string): Promise<Fetched> {
    const result = await this.fetchOverview(basic(name, password));
    if (result.ok) this.authorization = basic(name, password);
    return result;
  }

  logOut(): void {
    this.authorization = undefined;
  }

  async overview(): Promise<Fetched> {
    if (!this.authorization) return { ok: false, kind: 'refused', message: 'Not logged in.' };
    const result = await this.fetchOverview(this.authorization);
    if (!result.ok && result.kind === 'refused') this.authorization = undefined;
    return result;
  }

  private async fetchOverview(authorization: string): Promise<Fetched> {
    let response: Response;
    try {
      // `omit`: no browser credentials, so a 401 with WWW-Authenticate comes back to us instead of a login prompt.
      response = await fetch(adminConsole.path, {
        headers: { authorization },
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      return { ok: false, kind: 'failed', message: 'The account server cannot be reached.' };
    }
    if (response.status === 401)
      return { ok: false, kind: 'refused', message: 'Operator name or password not accepted.' };
    if (response.status === 429) {
      const seconds = Number(response.headers.get('retry-after') ?? '0');
      return {
        ok: false,
        kind: 'throttled',
        message: `Too many failed logins: try again in ${Number.isFinite(seconds) && seconds > 0 ? seconds : 'a few'} s.`,
      };
    }
    if (response.status !== 200)
      return {
        ok: false,
        kind: 'failed',
        message: `The account server answered ${response.status}${reasonOf(response)}.`,
      };
    const parsed = adminConsole.response.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success)
      return { ok: false, kind: 'failed', message: 'The account server answered an unexpected shape.' };
    return { ok: true, overview: parsed.data };
  }
}

function reasonOf(response: Response): string {
  const reason = response.headers.get('irsp-reason');
  return reason ? ` (${reason})` : '';
}
