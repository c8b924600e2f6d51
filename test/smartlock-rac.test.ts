/**
 * The RAC in a real browser (Debian's Chromium driven by playwright-core) on a whole IRSP on loopback: a new user
 * signs up, binds the gateway with its verification code, finds and registers a lock and unlocks it, and sees
 * "Unlocked" pushed back; she shares it with a second user (a second browser context) who can unlock until the
 * grant ends and is refused after; she reads the audit log and removes the lock, after which the lock's own memory
 * holds no user. Screenshots of the main screens go to test/screenshots/.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountServerFromTopology, type AccountServer } from '@irsp/account-server';
import { applicationServerFromTopology, type ApplicationServer } from '@irsp/application-server';
import { trustedCa, type Topology } from '@irsp/config';
import { messageServerFromTopology, type MessageServer } from '@irsp/message-server';
import { LockDevice } from '@irsp/smartlock';
import { BluetoothGateway } from '@irsp/smartlock-sim';
import {
  captureLogger,
  dropTopologySchemas,
  form,
  freePorts,
  tempDir,
  TestClient,
  twoAsTopology,
} from './support/irsp.js';
import { launchChromium, newPage, screenshot } from './support/browser.js';
import { importFactoryRecords } from './support/smartlock.js';
import { trustCaForXmppClients } from './support/xmpp.js';

const RAC_BUILT = fileURLToPath(new URL('../services/smartlock-rac/dist/index.html', import.meta.url));
const AS1 = 'as1.irsp.test';
const LOCK_ID = '00a1b2c3d4e5f607';
const KEY = Buffer.alloc(16, 0x42);
/** How long the test waits for something the page shows (a push crosses four servers). */
const SHOWN_MS = 20_000;

let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let http: TestClient;
let untrust: () => void;
let accountServer: AccountServer;
let ms1: MessageServer;
let app1: ApplicationServer;
let gateway: BluetoothGateway;
let browser: Browser;
let alice: Page;
let bob: Page;
let racUrl: string;
const lock = new LockDevice(LOCK_ID, KEY);
/** Uncaught exceptions and console errors of the pages (a CSP violation is one). */
const browserErrors: string[] = [];
const log = captureLogger('irsp');

/** The page's one notice line (role status, or alert for a failure). */
const notice = (page: Page) => page.locator('#notice');

async function shows(locator: Locator, text: string): Promise<void> {
  await expect.poll(() => locator.innerText(), { timeout: SHOWN_MS }).toBe(text);
}

const said = (page: Page, text: string) => shows(notice(page), text);

/** A `datetime-local` value (the page reads it as UTC). */
const utcInput = (ms: number) => new Date(ms).toISOString().slice(0, 19);

async function signUp(
  page: Page,
  user: string,
  name: string,
  pin: string,
  outcome = `Welcome, ${user}@${AS1}.`,
): Promise<void> {
  const signUpForm = page.getByRole('form', { name: 'Sign up' });
  await signUpForm.getByLabel('User ID').fill(user);
  await signUpForm.getByLabel('Password').fill(`${user} password`);
  await signUpForm.getByLabel('Your name').fill(name);
  await signUpForm.getByLabel('PIN (6–12 digits)').fill(pin);
  await signUpForm.getByRole('button', { name: 'Sign up' }).click();
  await said(page, outcome);
}

/** The simulated BGW with the lock, logged in over XMPP (c2s) and announcing its owner to the RAS. */
async function startGateway(): Promise<BluetoothGateway> {
  const as1 = topology.autonomousSystems[0]!;
  const started = new BluetoothGateway({
    service: `xmpp://127.0.0.1:${as1.messageServers[0]!.xmpp!.c2sPort}`,
    domain: AS1,
    deviceid: '#bgw-hall',
    password: 'bgw password',
    ras: as1.applicationServers[0]!.jid,
    locks: [lock],
    logger: log.logger.child({ service: 'bgw' }),
  });
  await started.start();
  return started;
}

beforeAll(async () => {
  if (!existsSync(RAC_BUILT))
    throw new Error('The RAC is not built: run pnpm build (pnpm test and pnpm verify do) before this test');
  dir = await tempDir();
  const ports = await freePorts(7);
  topology = twoAsTopology({
    tlsDir: `${dir.path}/tls`,
    dataDir: `${dir.path}/data`,
    ports: { accountServer: ports[0]!, ms1: ports[1]!, ms2: ports[2]!, app1: ports[3]!, app2: ports[4]! },
    xmpp: { ms1: { c2sPort: ports[5]!, websocketPort: ports[6]! } },
  });
  const as1 = topology.autonomousSystems[0]!;
  // The smart-lock application on AS1's application server: its RAC at its root, its origin allowed by CORS.
  as1.applicationServers[0]!.applications = ['smartlock'];
  racUrl = `${as1.applicationServers[0]!.url}/`;
  const ca = await trustedCa(topology);
  untrust = trustCaForXmppClients(ca);
  http = new TestClient(ca);
  await Promise.all([
    (async () => {
      accountServer = await accountServerFromTopology(topology, log.logger);
      await accountServer.listen(topology.accountServer.listen);
    })(),
    (async () => {
      ms1 = await messageServerFromTopology(topology, as1, as1.messageServers[0]!, log.logger);
      await ms1.listen();
    })(),
    (async () => {
      app1 = await applicationServerFromTopology(topology, as1, as1.applicationServers[0]!, log.logger);
      await app1.listen();
    })(),
  ]);
  // The gateway and the lock as they leave the factory: the gateway's account with its verification code, the
  // lock's factory record at the RAS.
  const registered = await http.post(
    `${topology.accountServer.url}/device/register`,
    form({ deviceid: `#bgw-hall@${AS1}`, password: 'bgw password', verifycode: 'bgw-1234' }),
  );
  expect(registered.status).toBe(200);
  expect(
    await importFactoryRecords(http, as1.applicationServers[0]!, [{ lockId: LOCK_ID, key: KEY }]),
  ).toEqual({
    status: 200,
    body: '{"imported":1}',
  });
  gateway = await startGateway();
  // Chromium is installed when missing (the tests run as root on a machine that starts with Node and npm only).
  browser = await launchChromium();
  alice = await newPage(browser, 'alice', browserErrors);
  bob = await newPage(browser, 'bob', browserErrors);
}, 600_000); // apt-get, when Chromium is missing

afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
  await app1?.close();
  await ms1?.close();
  await accountServer?.close();
  await http?.close();
  untrust?.();
  if (topology) await dropTopologySchemas(topology);
  await dir?.remove();
});

describe('the RAC in Chromium', () => {
  it('is served at the root of the smart-lock application server, under a strict CSP', async () => {
    const page = await http.get(racUrl);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const { accountServer: account } = topology;
    const websocket = `wss://127.0.0.1:${topology.autonomousSystems[0]!.messageServers[0]!.xmpp!.websocketPort}`;
    expect(page.headers['content-security-policy']).toBe(
      `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; ` +
        `connect-src 'self' ${account.url} ${websocket}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    const asset = await http.get(new URL(script!, racUrl).href);
    expect({ status: asset.status, type: asset.headers['content-type'] }).toEqual({
      status: 200,
      type: 'text/javascript; charset=utf-8',
    });
    const config = await http.get(new URL('/config.json', racUrl).href);
    expect(JSON.parse(config.body)).toEqual({
      domain: AS1,
      accountServer: account.url,
      websocket: `${websocket}/xmpp-websocket`,
      ras: `default.${AS1}`,
    });
    expect((await http.get(new URL('/assets/../../etc/passwd', racUrl).href)).status).toBe(404);
  });

  it('alice signs up, binds the gateway with its code (a wrong one is told), finds and registers the lock', async () => {
    await alice.goto(racUrl);
    await screenshot(alice, 'rac-sign-in');
    await signUp(alice, 'alice', 'Alice', '246810');

    const bind = alice.getByRole('form', { name: 'Bind a gateway' });
    await bind.getByLabel('Gateway device ID').fill('#bgw-hall');
    await bind.getByLabel('Verification code').fill('not-the-code');
    await bind.getByRole('button', { name: 'Bind gateway' }).click();
    await said(alice, 'Wrong verification code for this gateway.');
    expect(await notice(alice).getAttribute('role')).toBe('alert');
    await bind.getByLabel('Verification code').fill('bgw-1234');
    await bind.getByRole('button', { name: 'Bind gateway' }).click();
    await said(alice, 'Gateway #bgw-hall is bound to you.');
    const gatewayItem = alice.getByRole('listitem', { name: 'Gateway #bgw-hall' });
    await shows(gatewayItem, '#bgw-hall online Find locks');
    // The gateway tells the RAS who owns it (its hello) once bound.
    await expect
      .poll(
        async () =>
          (
            await app1.context.db.query<{ owner: string | null }>(
              `SELECT owner FROM smartlock_gateways WHERE deviceid = '#bgw-hall'`,
            )
          ).rows[0]?.owner,
        { timeout: SHOWN_MS },
      )
      .toBe(`alice@${AS1}`);

    await gatewayItem.getByRole('button', { name: 'Find locks' }).click();
    await said(alice, '1 lock heard near #bgw-hall.');
    const found = alice.getByRole('listitem', { name: `Found lock ${LOCK_ID}` });
    await expect
      .poll(() => found.innerText(), { timeout: SHOWN_MS })
      .toMatch(new RegExp(`^${LOCK_ID} signal -\\d+ dBm · not registered`));
    await found.getByLabel('Activation code').fill('WRONGCODE1');
    await found.getByRole('button', { name: 'Register lock' }).click();
    await said(alice, 'Wrong activation code for this lock.');
    await found.getByLabel('Activation code').fill('K7Q2M9XW4P');
    await found.getByLabel('Name').fill('Front door');
    await found.getByRole('button', { name: 'Register lock' }).click();
    await said(alice, 'Front door is registered to you (BSLD-1, firmware 1.0.0).');
    expect(lock.users).toEqual([`alice@${AS1}`]);
  }, 90_000);

  it('alice unlocks the lock and sees "Unlocked" pushed back; a second browser of hers lists the lock', async () => {
    const card = alice.getByRole('article', { name: 'Front door' });
    await shows(card.getByRole('status', { name: 'State' }), 'Unknown');
    await card.getByRole('button', { name: 'Unlock' }).click();
    await shows(card.getByRole('status', { name: 'State' }), 'Unlocked');
    await said(alice, 'Front door is unlocked.');
    expect(lock.bolt).toBe('unlocked');
    await screenshot(alice, 'rac-locks');

    // alice on another device (a browser that remembers nothing) sees the same lock, from the RAS's lockList.
    const elsewhereContext = await browser.newContext({ ignoreHTTPSErrors: true, timezoneId: 'UTC' });
    try {
      const elsewhere = await elsewhereContext.newPage();
      elsewhere.on('pageerror', (error) => browserErrors.push(`alice elsewhere: ${error.message}`));
      await elsewhere.goto(racUrl);
      const logIn = elsewhere.getByRole('form', { name: 'Log in' });
      await logIn.getByLabel('User ID').fill('alice');
      await logIn.getByLabel('Password').fill('alice password');
      await logIn.getByLabel('PIN').fill('246810');
      await logIn.getByRole('button', { name: 'Log in' }).click();
      await said(elsewhere, `Welcome, alice@${AS1}.`);
      const listed = elsewhere.getByRole('article', { name: 'Front door' });
      await shows(listed.getByRole('status', { name: 'State' }), 'Unlocked');
      await screenshot(elsewhere, 'rac-second-browser');
    } finally {
      await elsewhereContext.close();
    }
  }, 60_000);

  it('bob (a second browser) is told a wrong password and signs up; alice shares and revokes, then shares for 30 s: he unlocks within it and is refused after', async () => {
    await bob.goto(racUrl);
    const logIn = bob.getByRole('form', { name: 'Log in' });
    await logIn.getByLabel('User ID').fill('bob');
    await logIn.getByLabel('Password').fill('no such password');
    await logIn.getByLabel('PIN').fill('135790');
    await logIn.getByRole('button', { name: 'Log in' }).click();
    await said(bob, 'Wrong user ID or password.');
    await signUp(bob, 'bob', 'Bob', '12', 'The PIN must be 6 to 12 digits.');
    await signUp(bob, 'bob', 'Bob', '135790');

    const card = alice.getByRole('article', { name: 'Front door' });
    const bobCard = bob.getByRole('article', { name: `Shared lock ${LOCK_ID}` });
    const shown = (t: string) => `${t.replace('T', ' ').replace('Z', '')} UTC`;
    const share = async (seconds: number) => {
      const form = card.getByRole('form', { name: 'Share Front door' });
      const from = new Date(Date.now() - 5_000).toISOString().replace(/\.\d+Z$/, 'Z');
      const until = new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
      await form.getByLabel('Share with (user ID)').fill('bob');
      await form.getByLabel('From (UTC)').fill(utcInput(Date.parse(from)));
      await form.getByLabel('Until (UTC)').fill(utcInput(Date.parse(until)));
      await form.getByRole('button', { name: 'Share' }).click();
      await said(alice, `bob@${AS1} can use Front door from ${shown(from)} until ${shown(until)}.`);
      expect(lock.users).toEqual([`alice@${AS1}`, `bob@${AS1}`]);
      await said(bob, `A lock was shared with you until ${shown(until)}.`);
      return until;
    };

    // Shared for an hour, then revoked: bob's page drops the lock, the lock forgets him.
    await share(3_600);
    await shows(bobCard.locator('h3'), `Shared lock ${LOCK_ID}`);
    await card
      .getByRole('listitem', { name: `Access of bob@${AS1}` })
      .getByRole('button', { name: 'Revoke' })
      .click();
    await said(alice, `bob@${AS1} can no longer use Front door.`);
    await said(bob, 'Your access to a shared lock was withdrawn.');
    expect(await bobCard.count()).toBe(0);
    await expect.poll(() => lock.users, { timeout: SHOWN_MS }).toEqual([`alice@${AS1}`]);

    // Shared again, for 30 seconds.
    const until = await share(25);
    await screenshot(alice, 'rac-sharing');

    // alice locks again; bob unlocks within his window.
    await card.getByRole('button', { name: 'Lock', exact: true }).click();
    await shows(card.getByRole('status', { name: 'State' }), 'Locked');
    await bobCard.getByRole('button', { name: 'Unlock' }).click();
    await shows(bobCard.locator('.state'), 'State: Unlocked · Battery 100 %');
    expect(lock.bolt).toBe('unlocked');
    // …and alice, the owner, sees it live (a lockState push).
    await shows(card.locator('.state'), 'State: Unlocked · Battery 100 %');
    await said(alice, 'Front door is now unlocked.');
    await screenshot(bob, 'rac-shared-with-bob');

    // After the grant's end the lock forgets him (confirmed to the RAS), and the RAS refuses him before anything
    // reaches the lock.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(until) - Date.now())));
    await expect.poll(() => lock.users, { timeout: SHOWN_MS }).toEqual([`alice@${AS1}`]);
    await expect
      .poll(
        async () =>
          (
            await app1.context.db.query<{ erased: boolean }>(
              'SELECT erased_at IS NOT NULL AS erased FROM smartlock_grants WHERE grantee = $1',
              [`bob@${AS1}`],
            )
          ).rows,
        { timeout: SHOWN_MS },
      )
      .toEqual([{ erased: true }]);
    await bobCard.getByRole('button', { name: 'Lock', exact: true }).click();
    await said(bob, 'Your access to this lock has expired (or has not started yet).');
    expect(await notice(bob).getAttribute('role')).toBe('alert');
    await shows(bobCard.getByRole('status', { name: 'State' }), 'Unlocked');
    expect(lock.bolt).toBe('unlocked');
    await screenshot(bob, 'rac-access-expired');
  }, 180_000);

  it('alice reads the audit log, is told when the gateway is offline, and removes the lock: the lock holds no user', async () => {
    const card = alice.getByRole('article', { name: 'Front door' });
    await card.getByRole('button', { name: 'Show audit log' }).click();
    const table = card.getByRole('table', { name: 'Audit log of Front door' });
    await expect
      .poll(
        async () => (await table.locator('tbody tr').allInnerTexts()).map((row) => row.split('\t').slice(1)),
        { timeout: SHOWN_MS },
      )
      .toEqual([
        [`bob@${AS1}`, 'lock', 'Forbidden: access expired or not yet valid'],
        [`bob@${AS1}`, 'grantEnded', 'Success'],
        [`bob@${AS1}`, 'unlock', 'Success'],
        [`alice@${AS1}`, 'lock', 'Success'],
        [`alice@${AS1}`, 'grantAccess', 'Success'],
        [`alice@${AS1}`, 'revokeAccess', 'Success'],
        [`alice@${AS1}`, 'grantAccess', 'Success'],
        [`alice@${AS1}`, 'unlock', 'Success'],
        [`alice@${AS1}`, 'lockRegister', 'Success'],
      ]);
    await screenshot(alice, 'rac-audit-log');

    // The gateway goes offline: alice sees it, and a command is refused in words; then it comes back.
    const gatewayItem = alice.getByRole('listitem', { name: 'Gateway #bgw-hall' });
    await gateway.stop();
    await shows(gatewayItem, '#bgw-hall offline Find locks');
    await card.getByRole('button', { name: 'Unlock' }).click();
    await said(alice, 'The gateway is offline: check that it is powered and connected.');
    await shows(card.getByRole('status', { name: 'State' }), 'Unlocked');
    await screenshot(alice, 'rac-gateway-offline');
    gateway = await startGateway();
    await shows(gatewayItem, '#bgw-hall online Find locks');

    await card.getByRole('button', { name: 'Remove lock' }).click();
    await said(alice, "Front door is removed: the lock no longer holds your user ID or anyone else's.");
    expect(lock.users).toEqual([]);
    await shows(
      alice.getByRole('region', { name: 'Your locks' }).locator('.locks'),
      'No lock yet: bind a gateway, find a lock and register it.',
    );
  }, 60_000);

  it('an IRSP user who never joined the application joins by logging in (after bob logs out)', async () => {
    const registered = await http.post(
      `${topology.accountServer.url}/user/register.xml`,
      form({ userid: `carol@${AS1}`, password: 'carol password' }),
    );
    expect(registered.status).toBe(200);
    await bob.getByRole('button', { name: 'Log out' }).click();
    await said(bob, 'Logged out.');
    const logIn = bob.getByRole('form', { name: 'Log in' });
    await logIn.getByLabel('User ID').fill('carol');
    await logIn.getByLabel('Password').fill('carol password');
    await logIn.getByLabel('PIN').fill('975310');
    await logIn.getByRole('button', { name: 'Log in' }).click();
    await said(bob, `Welcome, carol@${AS1}.`);
    await expect
      .poll(() => bob.locator('.who').innerText(), { timeout: SHOWN_MS })
      .toMatch(
        /^Signed in as carol@as1\.irsp\.test · PIN confirmed until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/,
      );
  }, 60_000);

  it('ran without an error in either page (no CSP violation, no uncaught exception)', () => {
    expect(browserErrors).toEqual([]);
  });
});
