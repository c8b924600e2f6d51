/**
 * A recipient that stops reading stalls nobody else (docs/client-protocol.md, "Slow readers"): its sender is paused
 * for at most `senderPauseMs`, then goes on — its pings are answered, its other recipients get their messages — and
 * the stalled reader is cut off with a stream error once it has been behind for `slowReaderTimeoutMs`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';
import { RawSession } from './raw-session.js';

/** Short enough for a test, long enough that the sender's ping must be answered well before the cut-off. */
const SLOW_READER_TIMEOUT_MS = 15_000;
const CUT_OFF = 'reader too slow for too long: disconnected';

let fixture: XmppFixture;
const sessions: RawSession[] = [];

async function login(resource: string): Promise<RawSession> {
  const session = await RawSession.login(fixture, 'alice', 'alice pw', resource);
  sessions.push(session);
  return session;
}

function logged(msg: string): Record<string, unknown>[] {
  return fixture.log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
}

beforeAll(async () => {
  fixture = await startXmppMessageServer({
    directTls: true,
    // The byte bound far away, so that the time bound is what cuts the stalled reader off here.
    c2sLimits: { slowReaderTimeoutMs: SLOW_READER_TIMEOUT_MS, maxBufferedBytes: 64 * 1024 * 1024 },
  });
  await fixture.register('alice', 'alice pw');
}, 60_000);

afterAll(async () => {
  for (const session of sessions) session.destroy();
  await fixture?.close();
});

it('a stalled recipient holds its sender back for a moment only, and is cut off after the time bound', async () => {
  const stalled = await login('stalled');
  const other = await login('other');
  const sender = await login('sender');
  stalled.pause();
  // 1 KB messages until far more than the connection's socket buffers hold (megabytes on loopback).
  const body = 'x'.repeat(1000);
  const count = 12_000;
  for (let i = 0; i < count; i += 100) {
    let chunk = '';
    for (let j = i; j < i + 100; j++)
      chunk += `<message to='alice@as1.irsp.test/stalled' type='chat' id='s${j}'><body>${body}</body></message>`;
    sender.write(chunk);
  }
  sender.write(
    "<message to='alice@as1.irsp.test/other' type='chat' id='o1'><body>to the other</body></message>" +
      "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>",
  );
  await sender.waitFor(/<iq type='result' id='p1' to='alice@as1\.irsp\.test\/sender'\/>/, 60_000);
  await other.waitFor(/<message [^>]*id='o1'[^>]*><body>to the other<\/body><\/message>/);
  // Both while the stalled reader was still connected: nothing waited for it to be cut off.
  expect(logged(CUT_OFF)).toEqual([]);
  expect(stalled.socket.destroyed).toBe(false);

  await expect.poll(() => logged(CUT_OFF).length, { timeout: 3 * SLOW_READER_TIMEOUT_MS }).toBe(1);
  const [warning] = logged(CUT_OFF);
  expect(warning).toMatchObject({ level: 40, id: stalled.streamId });
  expect(JSON.stringify(warning)).not.toContain(body.slice(0, 20));
  // What was queued for it is not thrown away behind its back: reading again (within the 5 s the server waits for
  // the close), it gets every message, in order, then the stream error.
  stalled.resume();
  await stalled.closed;
  const ids = [...stalled.text.matchAll(/<message [^>]*id='s(\d+)'/g)].map((m) => Number(m[1]));
  expect(ids).toEqual(Array.from({ length: count }, (_, i) => i));
  expect(
    stalled.text.endsWith(
      "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" +
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>reader too slow</text></stream:error>" +
        '</stream:stream>',
    ),
  ).toBe(true);
}, 120_000);
