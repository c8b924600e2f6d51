/**
 * Debian's Chromium driven by playwright-core, for the tests of our web pages (the RAC, the operator console):
 * installed with apt-get when missing, headless without sandbox (the tests run as root) or background networking,
 * each page's uncaught exceptions and console errors collected (a CSP violation is one), screenshots in
 * test/screenshots/.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensureDebianPackage } from './debian.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = new URL('../screenshots/', import.meta.url);

export async function launchChromium(): Promise<Browser> {
  ensureDebianPackage('chromium', () => existsSync(CHROMIUM));
  await mkdir(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
  });
}

/**
 * A page in a context of its own, trusting any certificate (the servers' come from the test's throwaway CA), in UTC;
 * what goes wrong in it is pushed to `errors` prefixed with `name`.
 */
export async function newPage(
  browser: Browser,
  name: string,
  errors: string[],
  viewport = { width: 1000, height: 800 },
): Promise<Page> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, timezoneId: 'UTC', viewport });
  const page = await context.newPage();
  page.on('pageerror', (error) => errors.push(`${name}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${name}: ${message.text()}`);
  });
  return page;
}

/** A full-page screenshot in test/screenshots/; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const path = new URL(`${name}.png`, SCREENSHOTS).pathname;
  await page.screenshot({ path, fullPage: true });
  return path;
}
