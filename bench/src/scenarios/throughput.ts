/**
 * 3. 50 related pairs on line, each side sending 200-byte messages to the other with at most 10 unanswered:
 * delivered stanzas per second of server CPU, and end-to-end latency (send → the peer's socket).
 */
import type { XmppClient } from '../load/client.js';
import { LatencyRecorder, round } from '../load/latency.js';
import { bareJid, inParallel, relate } from '../load/session.js';
import { attribute, bodyText } from '../load/splitter.js';
import { sleep } from '../servers/system.js';
import {
  STARTTLS,
  names,
  online,
  startWindow,
  windowMetrics,
  type Metrics,
  type Scenario,
  type ScenarioContext,
} from './context.js';

export const PAIRS = 50;
export const WINDOW = 10;
export const STANZA_BYTES = 200;

/** A `<message>` of exactly STANZA_BYTES bytes whose body starts with the marker `sender.seq|`. */
export function benchMessage(to: string, sender: number, seq: number): string {
  const head = `<message to='${to}' type='chat' id='m${seq}'><body>${sender}.${seq}|`;
  const tail = '</body></message>';
  return head + 'x'.repeat(Math.max(0, STANZA_BYTES - head.length - tail.length)) + tail;
}

/** The marker of a received bench message, or undefined for anything else. */
export function parseMarker(body: string | undefined): { sender: number; seq: number } | undefined {
  if (!body) return undefined;
  const dot = body.indexOf('.');
  const bar = body.indexOf('|');
  if (dot < 1 || bar < dot) return undefined;
  return { sender: Number(body.slice(0, dot)), seq: Number(body.slice(dot + 1, bar)) };
}

export const throughputScenario: Scenario = {
  name: 'throughput',
  supports: () => true,
  variants: (server) => (server === 'irsp' ? [STARTTLS] : [STARTTLS, { label: 'plain', requireTls: false }]),
  run: (ctx) => exchange(ctx, 't', () => ctx.server.c2sPort),
};

/**
 * PAIRS related pairs of users `<prefix>…` on line, user i logged in at `portOf(i)`, exchanging messages for the
 * measured window: delivered stanzas, server CPU per 1 000 and latency.
 */
export async function exchange(
  ctx: ScenarioContext,
  prefix: string,
  portOf: (user: number) => number,
): Promise<Metrics> {
  const seconds = ctx.quick ? 5 : 20;
  const users = names(prefix, PAIRS * 2);
  await ctx.server.createAccounts(users, 'user');
  const clients: XmppClient[] = await inParallel(users, 20, (name, i) =>
    online(ctx, name, 'bench', { port: portOf(i) }),
  );
  await relate(Array.from({ length: PAIRS }, (_, p) => [clients[2 * p]!, clients[2 * p + 1]!] as const));

  const sent = clients.map(() => new Map<number, number>());
  const seqs = clients.map(() => 0);
  let sending = true;
  let measuring = false;
  let delivered = 0;
  let errors = 0;
  const latency = new LatencyRecorder();
  const targets = clients.map((_, i) => `${bareJid(clients[i ^ 1]!.jid)}/bench`);
  const refill = (i: number) => {
    let batch = '';
    while (sending && sent[i]!.size < WINDOW) {
      const seq = ++seqs[i]!;
      sent[i]!.set(seq, performance.now());
      batch += benchMessage(targets[i]!, i, seq);
    }
    if (batch) clients[i]!.write(batch);
  };
  clients.forEach((client, receiver) => {
    client.onStanza = (name, xml) => {
      if (name !== 'message') return;
      if (attribute(xml, 'type') === 'error') {
        errors += 1;
        return;
      }
      const marker = parseMarker(bodyText(xml));
      // Counted only at the peer it was sent to: a copy reflected to the sender is not a delivery.
      if (!marker || marker.sender !== (receiver ^ 1)) return;
      const at = sent[marker.sender]?.get(marker.seq);
      if (at === undefined) return;
      sent[marker.sender]!.delete(marker.seq);
      if (measuring) {
        delivered += 1;
        latency.record(performance.now() - at);
      }
      refill(marker.sender);
    };
  });
  clients.forEach((_, i) => refill(i));
  await sleep(2000); // warm-up: JIT, TLS buffers, server caches
  measuring = true;
  const stop = startWindow(ctx, 'exchange');
  await sleep(seconds * 1000);
  measuring = false;
  const w = stop();
  sending = false;
  await sleep(1000);
  for (const client of clients) client.destroy();
  if (errors > 0) ctx.notes.push(`${errors} error stanzas came back`);
  const { p50Ms, p99Ms } = latency.summary();
  return {
    delivered,
    deliveredPerSecond: round(delivered / w.wallSeconds, 1),
    deliveredPerServerCpuSecond: w.serverCpuSeconds > 0 ? round(delivered / w.serverCpuSeconds, 1) : null,
    serverCpuSecondsPer1000: delivered > 0 ? round((w.serverCpuSeconds * 1000) / delivered, 4) : null,
    p50Ms,
    p99Ms,
    errors,
    ...windowMetrics(w),
  };
}
