/**
 * The operator console (decision 0023) in a real browser (Debian's Chromium driven by playwright-core) on a whole
 * IRSP of two ASs on loopback: a wrong password is refused with a visible message, repeated ones are held by the
 * guessing throttle with a message of their own, the operator logs in and sees every service healthy, sees a session
 * appear when an XMPP client logs in, and sees the outbox to an application server grow while it is down and drain
 * when it is back. Screenshots go to test/screenshots/.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { request } from 'undici';
import { xml, type Client } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountServerFromTopology, type AccountServer } from '@irsp/account-server';
import { applicationServerFromTopology, type ApplicationServer } from '@irsp/application-server';
import { trustedCa, type Topology } from '@irsp/config';
import { hashPassword, operatorAuthorization } from '@irsp/credentials';
import { messageServerFromTopology, type MessageServer } from '@irsp/message-server';
import type { AdminAnswer, adminConsole } from '@irsp/protocol';
import { launchChromium, newPage, screenshot } from './support/browser.js';
import {
  captureLogger,
  dropTopologySchemas,
  form,
  freePorts,
  tempDir,
  TestClient,
  twoAsTopology,
} from './support/irsp.js';
import { trustCaForXmppClients, xmppLogin } from './support/xmpp.js';

const CONSOLE_BUILT = fileURLToPath(new URL('../services/console/dist/index.html', import.meta.url));
const AS1 = 'as1.irsp.test';
const AS2 = 'as2.irsp.test';
const OPERATOR = { name: 'ops', password: 'console operator password' };
/** How long the test waits for what the page shows (it refreshes every 3 s; the outbox retries with backoff). */
const SHOWN_MS = 30_000;

let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let http: TestClient;
let untrust: () => void;
let accountServer: AccountServer;
const messageServers: MessageServer[] = [];
const applicationServers = new Map<string, ApplicationServer>();
let browser: Browser;
let page: Page;
let consoleUrl: string;
let alice: Client | undefined;
/** Wrong operator passwords checked (and refused) so far: each is a row of the recent refusals. */
let wrongPasswords = 0;
const browserErrors: string[] = [];
type Overview = AdminAnswer<typeof adminConsole>;
const log = captureLogger('irsp');

async function shows(locator: Locator, text: string): Promise<void> {
  await expect.poll(() => locator.innerText(), { timeout: SHOWN_MS }).toBe(text);
}

const serviceHealth = (key: string) => page.locator(`[data-service="${key}"] .status`);
const asHealth = (domain: string) => page.locator(`[data-as="${domain}"] h3 .badge`);
const sessionCount = (key: string) => page.locator(`[data-sessions="${key}"] .count strong`);
/** The outbox row of an AS's application server. */
const waiting = (domain: string) =>
  page.locator(`[data-outbox="${domain}/application-server:default"] .waiting`);

async function startApplicationServer(domain: string): Promise<void> {
  const as = topology.autonomousSystems.find((a) => a.domain === domain)!;
  const server = await applicationServerFromTopology(topology, as, as.applicationServers[0]!, log.logger);
  await server.listen();
  applicationServers.set(domain, server);
}

async function stopApplicationServer(domain: string): Promise<void> {
  await applicationServers.get(domain)?.close();
  applicationServers.delete(domain);
}

beforeAll(async () => {
  if (!existsSync(CONSOLE_BUILT))
    throw new Error(
      'The console is not built: run pnpm build (pnpm test and pnpm verify do) before this test',
    );
  dir = await tempDir();
  const ports = await freePorts(9);
  topology = twoAsTopology({
    tlsDir: `${dir.path}/tls`,
    dataDir: `${dir.path}/data`,
    ports: { accountServer: ports[0]!, ms1: ports[1]!, ms2: ports[2]!, app1: ports[3]!, app2: ports[4]! },
    // s2s on both, for the federation link the page shows.
    xmpp: {
      ms1: { c2sPort: ports[5]!, s2sPort: ports[6]! },
      ms2: { c2sPort: ports[7]!, s2sPort: ports[8]! },
    },
  });
  topology.operators = [{ name: OPERATOR.name, passwordHash: await hashPassword(OPERATOR.password) }];
  // A sample a second, so that the plots and trends move within the test.
  topology.accountServer.console = { sampleIntervalMs: 1_000 };
  consoleUrl = `${topology.accountServer.url}/console`;
  const ca = await trustedCa(topology);
  untrust = trustCaForXmppClients(ca);
  http = new TestClient(ca);
  accountServer = await accountServerFromTopology(topology, log.logger);
  await accountServer.listen(topology.accountServer.listen);
  for (const as of topology.autonomousSystems) {
    const ms = await messageServerFromTopology(topology, as, as.messageServers[0]!, log.logger);
    await ms.listen();
    messageServers.push(ms);
    await startApplicationServer(as.domain);
  }
  for (const userid of [`alice@${AS1}`, `bob@${AS2}`]) {
    const registered = await http.post(
      `${topology.accountServer.url}/user/register.xml`,
      form({ userid, password: `${userid.split('@')[0]} password` }),
    );
    expect(registered.status).toBe(200);
  }
  // Chromium is installed when missing (the tests run as root on a machine that starts with Node and npm only).
  browser = await launchChromium();
  page = await newPage(browser, 'console', browserErrors, { width: 1280, height: 900 });
}, 600_000); // apt-get, when Chromium is missing

afterAll(async () => {
  await alice?.stop().catch(() => undefined);
  await browser?.close();
  for (const server of applicationServers.values()) await server.close();
  for (const ms of messageServers) await ms.close();
  await accountServer?.close();
  await http?.close();
  untrust?.();
  if (topology) await dropTopologySchemas(topology);
  await dir?.remove();
});

describe('the operator console in Chromium', () => {
  it('is served by the account server at /console under a strict CSP, and its data only to operators', async () => {
    const served = await http.get(consoleUrl);
    expect(served.status).toBe(200);
    expect(served.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(served.headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(served.body).toContain('<script type="module" crossorigin src="/console/assets/');
    const refused = await http.get(`${topology.accountServer.url}/admin/console`);
    expect(refused.status).toBe(401);
    expect(refused.body).toBe('<error><code>401</code><detail>unauthorized</detail></error>');
    expect((await http.get(`${topology.accountServer.url}/console/assets/nothing.js`)).status).toBe(404);
  });

  it('refuses a wrong password with a visible message', async () => {
    await page.goto(consoleUrl);
    const login = page.getByRole('form', { name: 'Log in' });
    await login.getByLabel('Operator').fill(OPERATOR.name);
    await login.getByLabel('Password').fill('not the password');
    await login.getByRole('button', { name: 'Log in' }).click();
    await shows(page.getByRole('alert'), 'Operator name or password not accepted.');
    await screenshot(page, 'console-login-refused');
    wrongPasswords = 1;
  });

  it('repeated wrong passwords are held by the guessing throttle (decision 0010), with a visible message', async () => {
    const login = page.getByRole('form', { name: 'Log in' });
    // 5 failures are free; the next attempt within the wait that follows (1 s, doubling) is refused unchecked. Each
    // attempt is awaited by its answer, since the refusal text is the same every time.
    let throttled: { retryAfter: string | null } | undefined;
    while (!throttled && wrongPasswords < 10) {
      const answered = page.waitForResponse((r) => r.url().endsWith('/admin/console'));
      await login.getByRole('button', { name: 'Log in' }).click();
      const answer = await answered;
      if (answer.status() === 429) throttled = { retryAfter: await answer.headerValue('retry-after') };
      else {
        expect(answer.status()).toBe(401);
        wrongPasswords++;
      }
    }
    expect(wrongPasswords).toBeGreaterThanOrEqual(5);
    expect(throttled?.retryAfter).toMatch(/^[1-9]\d*$/);
    await shows(page.getByRole('alert'), `Too many failed logins: try again in ${throttled!.retryAfter} s.`);
    await screenshot(page, 'console-login-throttled');
    // The right password waits out the throttle too: it is let through once the wait is over.
    await new Promise((r) => setTimeout(r, Number(throttled!.retryAfter) * 1000));
  });

  it('logs an operator in', async () => {
    const login = page.getByRole('form', { name: 'Log in' });
    await login.getByLabel('Password').fill(OPERATOR.password);
    await login.getByRole('button', { name: 'Log in' }).click();
    await shows(page.locator('header .who'), `Operator ${OPERATOR.name}`);
    // The credentials stay in the page's memory: nothing in the URL or the storage.
    expect(page.url()).toBe(consoleUrl);
    expect(await page.evaluate('[localStorage.length, sessionStorage.length, document.cookie]')).toEqual([
      0,
      0,
      '',
    ]);
  });

  it('shows both ASs and every service healthy', async () => {
    await shows(serviceHealth('account-server'), 'healthy');
    for (const domain of [AS1, AS2]) {
      await shows(asHealth(domain), 'healthy');
      await shows(serviceHealth(`${domain}/ms1`), 'healthy');
      await shows(serviceHealth(`${domain}/default`), 'healthy');
      await shows(sessionCount(`${domain}/ms1`), '0');
    }
    // The refused logins above are among the recent refusals, as the operator throttle recorded them; the attempt
    // the throttle held was not checked, so it is not one.
    const refusals = page.locator('section[aria-labelledby="refusals"] tbody tr');
    await expect.poll(() => refusals.count(), { timeout: SHOWN_MS }).toBe(wrongPasswords);
    for (const row of await refusals.all())
      expect(await row.locator('td').allInnerTexts()).toEqual([
        expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/),
        'account-server',
        'operator',
        OPERATOR.name,
        '127.0.0.1',
      ]);
  });

  it('shows a session when an XMPP client logs in', async () => {
    alice = await xmppLogin({
      port: topology.autonomousSystems[0]!.messageServers[0]!.xmpp!.c2sPort,
      domain: AS1,
      username: 'alice',
      password: 'alice password',
      resource: 'laptop',
    });
    await shows(sessionCount(`${AS1}/ms1`), '1');
    await expect
      .poll(() => page.locator(`[data-sessions="${AS1}/ms1"] li code`).allInnerTexts(), { timeout: SHOWN_MS })
      .toEqual([`alice@${AS1}/laptop`]);
    await shows(sessionCount(`${AS2}/ms1`), '0');
  });

  it('shows the s2s links once a stanza crossed to the other AS', async () => {
    const s2sRows = page.locator(`[data-as="${AS1}"] [data-s2s]`);
    expect(await s2sRows.count()).toBe(0);
    // A subscription request to a user of AS2 leaves AS1 over s2s (clause 8.5).
    await alice!.send(xml('presence', { to: `bob@${AS2}`, type: 'subscribe' }));
    await expect
      .poll(() => s2sRows.first().locator('td').allInnerTexts(), { timeout: SHOWN_MS })
      .toEqual([
        AS2,
        'outgoing',
        expect.stringMatching(/^(sasl-external|dialback)$/),
        expect.stringMatching(/ s$/),
      ]);
    await expect
      .poll(() => page.locator(`[data-as="${AS2}"] [data-s2s] td`).first().innerText(), { timeout: SHOWN_MS })
      .toBe(AS1);
  });

  it("shows an application server's outbox grow while it is down and drain when it is back", async () => {
    await shows(waiting(AS1), '0');
    await stopApplicationServer(AS1);
    await shows(serviceHealth(`${AS1}/default`), 'down');
    await shows(asHealth(AS1), 'down');
    // Uploads to the application server (Message 8) wait in AS1's outbox while it cannot be reached.
    for (let i = 1; i <= 3; i++) {
      await alice!.send(
        xml('message', { to: `default.${AS1}`, type: 'normal' }, xml('body', {}, `reading ${i}`)),
      );
      await shows(waiting(AS1), String(i));
    }
    await shows(serviceHealth(`${AS2}/default`), 'healthy');
    // What the console plots is in the message server's /metrics, for any Prometheus too.
    const metrics = await http.get(`${topology.autonomousSystems[0]!.messageServers[0]!.url}/metrics`);
    expect(metrics.body).toContain('\nirsp_outbox_backlog{target="application-server:default"} 3\n');
    expect(metrics.body).toContain('\nirsp_xmpp_sessions 1\n');
    await screenshot(page, 'console-outbox-backlog');

    await startApplicationServer(AS1);
    await shows(serviceHealth(`${AS1}/default`), 'healthy');
    await shows(waiting(AS1), '0');
    await shows(asHealth(AS1), 'healthy');
    // The trend kept the backlog: the sparkline's line rose above the baseline and came back.
    const trend = await page
      .locator(`[data-outbox="${AS1}/application-server:default"] svg path`)
      .getAttribute('d');
    expect(trend).toMatch(/^M/);
    await screenshot(page, 'console-drained');
  }, 120_000);

  it('logs out, and the admin call behind it stays refused without credentials', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await shows(page.getByRole('status'), 'Logged out.');
    expect(await page.getByRole('form', { name: 'Log in' }).isVisible()).toBe(true);
    // As the page asks (`omit`: with browser credentials, Chromium would open its login prompt on the 401).
    expect(
      await page.evaluate(async () => (await fetch('/admin/console', { credentials: 'omit' })).status),
    ).toBe(401);
  });

  it("answers the page's call with the topology, the services and the sampled history", async () => {
    const overview = async () => {
      const r = await request(`${topology.accountServer.url}/admin/console`, {
        dispatcher: http.agent,
        headers: { authorization: operatorAuthorization(OPERATOR.name, OPERATOR.password) },
      });
      expect(r.statusCode).toBe(200);
      return (await r.body.json()) as Overview;
    };
    const backlogOf = (overview: Overview) =>
      overview.history.series.find(
        (s) => s.metric === 'outbox' && s.service === AS1 && s.label === 'application-server:default',
      );
    // The history is sampled once a second: the sample after the drain may still be to come.
    await expect.poll(async () => backlogOf(await overview())?.values.at(-1), { timeout: 10_000 }).toBe(0);
    const body = await overview();
    expect(body.accountServer).toEqual({ url: topology.accountServer.url, ready: true, detail: null });
    expect(
      body.autonomousSystems.map((as) => ({
        domain: as.domain,
        messageServers: as.messageServers.map((ms) => [ms.id, ms.ready, ms.sessions?.map((s) => s.jid)]),
        applicationServers: as.applicationServers.map((app) => [app.name, app.jid, app.ready]),
        outbox: as.outbox,
        deadLetters: as.deadLetters,
      })),
    ).toEqual([
      {
        domain: AS1,
        messageServers: [['ms1', true, [`alice@${AS1}/laptop`]]],
        applicationServers: [['default', `default.${AS1}`, true]],
        outbox: [],
        deadLetters: 0,
      },
      {
        domain: AS2,
        messageServers: [['ms1', true, []]],
        applicationServers: [['default', `default.${AS2}`, true]],
        outbox: [],
        deadLetters: 0,
      },
    ]);
    // Only the wrong passwords: the console's own checks at the message servers are not among the refusals.
    expect(body.failedLogins.map((f) => [f.server, f.scope, f.target, f.source])).toEqual(
      Array.from({ length: wrongPasswords }, () => [
        'account-server',
        'operator',
        OPERATOR.name,
        '127.0.0.1',
      ]),
    );
    expect(body.history.intervalSeconds).toBe(1);
    // A sample a second for the minute or so the test ran: every series as long as the sample times.
    expect(body.history.at.length).toBeGreaterThan(5);
    for (const series of body.history.series) expect(series.values.length).toBe(body.history.at.length);
    const sessions = body.history.series.find((s) => s.metric === 'sessions' && s.service === `${AS1}/ms1`);
    expect(sessions?.values.at(-1)).toBe(1);
    const backlog = backlogOf(body);
    expect(Math.max(...(backlog?.values ?? []).map((v) => v ?? 0))).toBe(3);
    expect(backlog?.values.at(-1)).toBe(0);
  });

  it('raised no error in the page but the 401s and the 429 asked for (a CSP violation would be one)', () => {
    // Chromium reports every 401 and 429 it receives: the wrong passwords above, the attempt the throttle held, and
    // the call after logging out.
    const refused =
      'console: Failed to load resource: the server responded with a status of 401 (Unauthorized)';
    const held =
      'console: Failed to load resource: the server responded with a status of 429 (Too Many Requests)';
    expect(browserErrors).toEqual([...Array<string>(wrongPasswords).fill(refused), held, refused]);
  });
});
