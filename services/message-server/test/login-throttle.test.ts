/** Failed XMPP logins are throttled (per address and per account) and the rightful owner gets in soon after. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xmppLogin } from '../../../test/support/xmpp.js';
import { DOMAIN, startXmppMessageServer, type XmppFixture } from './fixture.js';

let fixture: XmppFixture;

beforeAll(async () => {
  fixture = await startXmppMessageServer({
    loginThrottle: { freeFailures: 1, baseDelayMs: 800, maxDelayMs: 800 },
  });
  await fixture.register('alice', 'right');
});

afterAll(async () => {
  await fixture?.close();
});

const attempt = (password: string) =>
  xmppLogin({ port: fixture.c2sPort, domain: DOMAIN, username: 'alice', password, resource: 'r' });

describe('login throttling', () => {
  it('after the free failure even the right password waits; once the delay is over it works', async () => {
    await expect(attempt('guess-1')).rejects.toThrow(/not-authorized/);
    await expect(attempt('guess-2')).rejects.toThrow(/not-authorized/);
    await expect(attempt('right')).rejects.toThrow(/temporary-auth-failure/);
    await new Promise((r) => setTimeout(r, 900));
    const alice = await attempt('right');
    expect(alice.jid?.toString()).toBe('alice@as1.irsp.test/r');
    await alice.stop();
  });
});
