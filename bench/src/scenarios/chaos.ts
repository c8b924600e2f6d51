/**
 * 8. Chaos (ours only; issue 12): for `duration` a user sends message + ping pairs (m-N, p-N) to a related user
 * who is mostly offline and logs in now and then to collect them; a device logs in and out (Messages 10/11) and
 * uploads numbered data (d-N + a ping: Message 9). Meanwhile, in turns every ~17 s (10 s with `--quick`), the IRSP's process (account
 * server and message server together, as the bench runs them) is killed with SIGKILL and started again on the same
 * databases, and the application server (the load generator's stub) is taken down — every connection cut, its port
 * closed — and brought back 3 s later. Clients reconnect and go on. At the end, with everything up and drained,
 * what arrived is counted by id against what was acknowledged (bench/src/chaos/count.ts): lost, duplicated, marked
 * retries, out of order. Target: zero lost, zero unmarked duplicates.
 */
import { numberStatuses, tally, type Arrival, type Expected, type Tally } from '../chaos/count.js';
import type { XmppClient } from '../load/client.js';
import { fetchRoster, pingServer, relate } from '../load/session.js';
import { attribute, bodyText } from '../load/splitter.js';
import { sleep } from '../servers/system.js';
import { DOMAIN } from '../servers/types.js';
import {
  STARTTLS,
  asIrsp,
  login,
  online,
  type Metrics,
  type Scenario,
  type ScenarioContext,
} from './context.js';

/** Between two kills: ~6 in a full run (120 s), one of each kind in `--quick` (30 s). */
const killEveryMs = (quick: boolean) => (quick ? 10_000 : 17_000);
const APP_DOWN_MS = 3_000;
/** How long an answer may take before the stream is taken for dead (a kill) and dropped. */
const ANSWER_MS = 15_000;
/** After the workload: how long everything acknowledged may take to arrive. */
const DRAIN_MS = 120_000;
const SENDER = 'chsender';
const RECIPIENT = 'chrecipient';
const DEVICE = 'chdev';

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Logs in until it works (the server may be down or starting). */
async function loginAgain(
  ctx: ScenarioContext,
  name: string,
  until: number,
): Promise<XmppClient | undefined> {
  while (performance.now() < until) {
    try {
      return await within(login(ctx, name, 'chaos'), ANSWER_MS);
    } catch {
      await sleep(500);
    }
  }
  return undefined;
}

export const chaosScenario: Scenario = {
  name: 'chaos',
  supports: (server) =>
    server === 'irsp' ? true : 'kills and restarts our processes and counts Messages 8–11: the IRSP only',
  variants: () => [STARTTLS],
  async run(ctx) {
    const irsp = asIrsp(ctx.server);
    const durationMs = (ctx.quick ? 30 : 120) * 1000;
    const device = irsp.deviceLocalpart(DEVICE);
    await irsp.createAccounts([SENDER, RECIPIENT], 'user');
    await irsp.createAccounts([DEVICE], 'device');
    {
      const a = await online(ctx, SENDER, 'setup');
      const b = await online(ctx, RECIPIENT, 'setup');
      await relate([[a, b]]);
      await a.close();
      await b.close();
    }
    const start = performance.now();
    const end = start + durationMs;
    const acknowledged: Expected[] = [];
    const uploads: Expected[] = [];
    const statuses: Expected[] = [];
    const received: Arrival[] = [];
    const kills = { messageServer: 0, applicationServer: 0 };
    let stopping = false;

    // The recipient: online for 2 s every 5 s, collecting m-N.
    const collect = async (until: number, forMs: number) => {
      const client = await loginAgain(ctx, RECIPIENT, until);
      if (!client) return;
      client.onStanza = (name, xml) => {
        const body = bodyText(xml);
        if (name === 'message' && attribute(xml, 'type') !== 'error' && body?.startsWith('m-'))
          received.push({ key: RECIPIENT, id: body, mark: null });
      };
      try {
        await within(fetchRoster(client), ANSWER_MS);
        client.write('<presence/>');
        await sleep(forMs);
        await within(client.close(), ANSWER_MS);
      } catch {
        client.destroy();
      }
    };
    const recipient = (async () => {
      while (!stopping) {
        await collect(end, 2_000);
        await sleep(3_000);
      }
    })();

    // The sender: m-N then p-N; m-N is acknowledged when p-N is answered.
    let pairs = 0;
    const sender = (async () => {
      let n = 0;
      while (!stopping) {
        const client = await loginAgain(ctx, SENDER, end);
        if (!client) break;
        try {
          while (!stopping && !client.closed) {
            n += 1;
            pairs += 1;
            client.write(
              `<message to='${RECIPIENT}@${DOMAIN}' type='chat' id='m-${n}'><body>m-${n}</body></message>`,
            );
            await within(pingServer(client, DOMAIN), ANSWER_MS);
            acknowledged.push({ key: RECIPIENT, id: `m-${n}` });
            await sleep(20);
          }
        } catch {
          // A kill: the pair in flight is not acknowledged; log in again and go on.
        }
        client.destroy();
      }
    })();

    // The device: a session of ~3 s with uploads d-N + ping, then a clean logout.
    let session = 0;
    let u = 0;
    const deviceLoop = (async () => {
      while (!stopping) {
        const client = await loginAgain(ctx, device, end);
        if (!client) break;
        let counted = false;
        try {
          await within(fetchRoster(client), ANSWER_MS);
          client.write('<presence/>');
          // Online (Message 10) once the ping after the initial presence is answered.
          await within(pingServer(client, DOMAIN), ANSWER_MS);
          session += 1;
          counted = true;
          statuses.push({ key: device, id: `${device} online-${session}` });
          for (let i = 0; i < 10 && !stopping; i++) {
            u += 1;
            client.write(`<message to='${irsp.appJid}'><body>d-${u}</body></message>`);
            await within(pingServer(client, DOMAIN), ANSWER_MS);
            uploads.push({ key: device, id: `d-${u}` });
            await sleep(300);
          }
          await within(client.close(), ANSWER_MS);
        } catch {
          // A kill: the message server reports the session offline when it is back (Message 11).
          client.destroy();
        }
        if (counted) statuses.push({ key: device, id: `${device} offline-${session}` });
        await sleep(500);
      }
    })();

    // The chaos: kills in turns.
    const every = killEveryMs(ctx.quick);
    for (let turn = 0; performance.now() + every < end; turn++) {
      await sleep(every);
      if (turn % 2 === 0) {
        await irsp.killAndRestart();
        kills.messageServer += 1;
      } else {
        await irsp.stub.stop();
        kills.applicationServer += 1;
        await sleep(APP_DOWN_MS);
        await irsp.stub.start();
      }
    }
    await sleep(Math.max(0, end - performance.now()));
    stopping = true;
    await Promise.all([sender, recipient, deviceLoop]);

    // Drain: the recipient collects until every acknowledged message came, the stub until every notification did.
    const drainUntil = performance.now() + DRAIN_MS;
    const notifications = () => irsp.stub.received.map(arrival);
    const missing = () =>
      tally(acknowledged, received).lost +
      tally(
        uploads,
        notifications().filter((a) => a.id.startsWith('d-')),
      ).lost +
      tally(statuses, numberStatuses(statusArrivals(notifications())).numbered).lost;
    do await collect(drainUntil, 2_000);
    while (missing() > 0 && performance.now() < drainUntil);
    if (missing() > 0)
      ctx.notes.push(`chaos: ${missing()} items had not arrived ${DRAIN_MS / 1000} s after the end`);

    const messages = tally(acknowledged, received);
    const all = notifications();
    const uploadTally = tally(
      uploads,
      all.filter((a) => a.id.startsWith('d-')),
    );
    const numbered = numberStatuses(statusArrivals(all));
    const statusTally = tally(statuses, numbered.numbered);
    ctx.notes.push(
      ...idNotes('messages', messages),
      ...idNotes('uploads', uploadTally),
      ...idNotes('statuses', statusTally),
    );
    ctx.notes.push(
      'chaos: the application server is the load generator\'s stub, "killed" by cutting its connections and closing its port',
    );
    return {
      durationSeconds: Math.round(durationMs / 1000),
      messageServerKills: kills.messageServer,
      applicationServerKills: kills.applicationServer,
      messagesSent: pairs,
      ...prefixed('messages', messages),
      ...prefixed('uploads', uploadTally),
      ...prefixed('statuses', { ...statusTally, markedRetries: numbered.markedRetries }),
      lostTotal: messages.lost + uploadTally.lost + statusTally.lost,
      unmarkedDuplicatesTotal: messages.duplicated + uploadTally.duplicated + statusTally.duplicated,
    };
  },
};

/** A notification as counted: the data of Message 8/9, the type of Message 10/11, keyed by account. */
function arrival(r: { path: string; body: string; mark: Arrival['mark'] }): Arrival {
  const query = r.path.includes('?') ? r.path.slice(r.path.indexOf('?') + 1) : '';
  const fields = new URLSearchParams(r.body || query);
  const key = fields.get('deviceid') ?? fields.get('userid') ?? '?';
  return { key, id: fields.get('data') ?? `status:${fields.get('type') ?? '?'}`, mark: r.mark };
}

function statusArrivals(all: readonly Arrival[]) {
  return all
    .filter((a) => a.id === 'status:online' || a.id === 'status:offline')
    .map((a) => ({
      key: a.key.split('@')[0]!,
      status: a.id === 'status:online' ? ('online' as const) : ('offline' as const),
      mark: a.mark,
    }));
}

function prefixed(prefix: string, t: Tally): Metrics {
  const out: Metrics = {};
  for (const [k, v] of Object.entries(t))
    if (typeof v === 'number') out[`${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`] = v;
  return out;
}

/** The ids behind what went wrong, in the notes (the first 20 of each). */
function idNotes(prefix: string, t: Tally): string[] {
  return (['lost', 'duplicated', 'outOfOrder'] as const)
    .filter((what) => t.ids[what].length > 0)
    .map((what) => {
      const ids = t.ids[what];
      return `chaos ${prefix} ${what}: ${ids.slice(0, 20).join(', ')}${ids.length > 20 ? ` and ${ids.length - 20} more` : ''}`;
    });
}
