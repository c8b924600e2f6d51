/** The cluster's request/reply on real NATS (127.0.0.1:4222, or NATS_URL): answered, nobody listening, too late. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { Requests, Unanswered } from '../src/cluster-requests.js';

const NATS = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const subject = (name: string) => `irsp.test_${randomBytes(5).toString('hex')}.${name}`;
let nc: NatsConnection;
let requests: Requests;

beforeAll(async () => {
  nc = await connect({ servers: [NATS] });
  requests = new Requests(nc);
});

afterAll(async () => {
  requests?.close();
  await nc?.drain();
});

describe('Requests', () => {
  it('resolves each request with its own answer, however they interleave', async () => {
    const echo = subject('echo');
    nc.subscribe(echo, {
      callback: (_e, msg) => setTimeout(() => msg.respond(msg.data), msg.data[0]! % 3),
    });
    await nc.flush();
    const answers = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((n) => requests.request(echo, Uint8Array.of(n), 5_000)),
    );
    expect(answers.map((m) => m.data[0])).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('rejects with "no responders" when nobody subscribes to the subject', async () => {
    const error = await requests.request(subject('nobody'), Uint8Array.of(1), 5_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Unanswered);
    expect((error as Unanswered).reason).toBe('no responders');
  });

  it('rejects with "timeout" when the answer does not come in time, and ignores it when it comes later', async () => {
    const slow = subject('slow');
    let answered!: () => void;
    const late = new Promise<void>((resolve) => (answered = resolve));
    nc.subscribe(slow, {
      callback: (_e, msg) =>
        setTimeout(() => {
          msg.respond(msg.data);
          answered();
        }, 300),
    });
    await nc.flush();
    const error = await requests.request(slow, Uint8Array.of(1), 50).catch((e: unknown) => e);
    expect((error as Unanswered).reason).toBe('timeout');
    await late;
    await nc.flush();
  });

  it('rejects what still waits when closed', async () => {
    const silent = subject('silent');
    nc.subscribe(silent, { callback: () => undefined });
    await nc.flush();
    const own = new Requests(nc);
    const waiting = own.request(silent, Uint8Array.of(1), 5_000).catch((e: unknown) => e);
    own.close();
    expect(((await waiting) as Unanswered).reason).toBe('closed');
  });
});
