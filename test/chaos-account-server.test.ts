/**
 * Chaos: the account server killed with SIGKILL during registrations (docs/consistency.md, "Chaos tests"). Users
 * register through the client API, several at once; the account server is killed while requests are in flight and
 * started again. Counted by user ID: every registration answered 200 exists at the account server (active) and at
 * the message server; every other one — answered with an error, or with no answer — ends, once the reconciler has
 * settled it, either complete (both) or absent from both, never half-way.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { form, TestClient } from './support/irsp.js';
import { ChaosIrsp } from './support/processes.js';

let irsp: ChaosIrsp | undefined;
let http: TestClient | undefined;

afterEach(async () => {
  await http?.close();
  await irsp?.close();
  irsp = undefined;
});

const REGISTRATIONS = 32;
const IN_PARALLEL = 8;
const ANSWERED_BEFORE_KILL = 8;

describe('chaos: the account server killed with SIGKILL during registrations', () => {
  it('leaves every registration complete or absent: those answered 200 on both servers, none half-way', async () => {
    // Pending registrations are settled 6 request timeouts after they were last touched: 6 s here.
    irsp = await ChaosIrsp.create({ requestTimeoutMs: 1_000, reconcileIntervalMs: 500 });
    const chaos = irsp;
    http = new TestClient(chaos.ca);
    const client = http;
    const accountServerUrl = chaos.topology.accountServer.url;
    const ms = chaos.as.messageServers[0]!;
    await chaos.start('message-server');
    const accountServer = await chaos.start('account-server');

    const outcome = new Map<string, number | 'no answer'>();
    let killed = false;
    let next = 0;
    const worker = async () => {
      while (!killed && next < REGISTRATIONS) {
        const userid = `u${next++}@as1.irsp.test`;
        try {
          const answer = await client.post(
            `${accountServerUrl}/user/register.xml`,
            form({ userid, password: `${userid} pw` }),
          );
          outcome.set(userid, answer.status);
        } catch {
          outcome.set(userid, 'no answer');
        }
      }
    };
    const workers = Array.from({ length: IN_PARALLEL }, worker);
    await expect
      .poll(() => [...outcome.values()].filter((o) => o === 200).length, { timeout: 60_000, interval: 5 })
      .toBeGreaterThanOrEqual(ANSWERED_BEFORE_KILL);
    await accountServer.kill();
    killed = true;
    await Promise.all(workers);
    const registered = [...outcome].filter(([, o]) => o === 200).map(([id]) => id);
    const unsettled = [...outcome].filter(([, o]) => o !== 200).map(([id]) => id);
    // The kill came while registrations were in flight.
    expect(unsettled.length).toBeGreaterThan(0);

    await chaos.start('account-server');

    /** Whether the message server has the account: Message 3 as the account server sends it (same password). */
    const atMessageServer = async (userid: string) => {
      const name = userid.split('@')[0]!;
      const answer = await client.post(
        `${ms.url}/user/modify`,
        form({ version: '1', ...ms.credentials.accountServer, name, password: `${userid} pw` }),
      );
      if (answer.status !== 200 && answer.status !== 422)
        throw new Error(`Message 3 for ${name}: ${answer.status} ${answer.body}`);
      return answer.status === 200;
    };
    /**
     * Whether the account server has the account active: a password change to the same password is answered 200
     * only then. Asked after the message server: for an account it has, the change sends nothing new.
     */
    const atAccountServer = async (userid: string) => {
      const password = `${userid} pw`;
      const answer = await client.post(
        `${accountServerUrl}/user/modify`,
        form({ userid, password, newpassword: password }),
      );
      return answer.status === 200;
    };

    for (const userid of registered) {
      expect({ userid, atMessageServer: await atMessageServer(userid) }).toEqual({
        userid,
        atMessageServer: true,
      });
      expect({ userid, atAccountServer: await atAccountServer(userid) }).toEqual({
        userid,
        atAccountServer: true,
      });
    }
    // Active at the account server while missing at the message server is never right (the probe would mend it).
    const activeWithoutMessageServer: string[] = [];
    const halfWay = async () => {
      const found: string[] = [];
      for (const userid of unsettled) {
        const there = await atMessageServer(userid);
        const active = await atAccountServer(userid);
        if (active && !there) activeWithoutMessageServer.push(userid);
        if (there !== active) found.push(userid);
      }
      return found;
    };
    await expect.poll(halfWay, { timeout: 90_000, interval: 1_000 }).toEqual([]);
    expect(activeWithoutMessageServer).toEqual([]);
  }, 240_000);
});
