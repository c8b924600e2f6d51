/**
 * A client that ends its stream with a stream error (RFC 6120 §4.9.1.1) gets our closing tag and nothing more: no
 * stream error of ours in answer to its own, before login or after bind. Its condition is logged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { C2sServer, scramMechanism, type C2sLogger, type C2sRouter } from '../../src/index.js';
import { serverTlsFor, tempDir } from '../../../../test/support/irsp.js';
import { RawXmpp } from '../../../../test/support/xmpp.js';
import {
  DOMAIN,
  HEADER,
  SCRAM_FEATURES,
  SERVER_HEADER,
  authenticate,
  bind,
  lookupIn,
  quote,
} from './raw-session.js';

const lookup = lookupIn({ alice: 'alice pw' });
const router: C2sRouter = { bound: () => undefined, route: () => undefined, unbound: () => undefined };
const logged: { msg: string; obj: Record<string, unknown> }[] = [];
const at = () => (obj: object, msg?: string) =>
  void logged.push({ msg: msg ?? '', obj: obj as Record<string, unknown> });
const logger: C2sLogger = { debug: at(), info: at(), warn: at(), error: at() };
const STREAM_ERROR =
  "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>";

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: C2sServer;
let port: number;
const raws: RawXmpp[] = [];

beforeAll(async () => {
  dir = await tempDir();
  server = new C2sServer({
    domain: DOMAIN,
    tls: await serverTlsFor(dir.path, 'c2s', [DOMAIN]),
    mechanisms: [scramMechanism('sha256', lookup), scramMechanism('sha1', lookup)],
    router,
    logger,
  });
  port = await server.listenPlain(0, '127.0.0.1');
});

afterAll(async () => {
  for (const raw of raws) raw.destroy();
  await server?.close();
  await dir?.remove();
});

describe("a client's stream error", () => {
  it('before login: answered by our closing tag only', async () => {
    const raw = await RawXmpp.connect(port);
    raws.push(raw);
    raw.write(HEADER);
    await raw.take(new RegExp(SERVER_HEADER + quote(SCRAM_FEATURES)));
    raw.write(STREAM_ERROR);
    await raw.take(/<\/stream:stream>/);
    await raw.closed;
    expect(logged.filter((l) => l.msg === 'stream error from the client').at(-1)?.obj).toMatchObject({
      condition: 'system-shutdown',
    });
  });

  it('after bind: answered by our closing tag only, and the session ends', async () => {
    const raw = await authenticate(port, 'alice', 'alice pw');
    raws.push(raw);
    await bind(raw, 'alice', 'desk');
    raw.write(STREAM_ERROR);
    await raw.take(/<\/stream:stream>/);
    await raw.closed;
    expect(logged.filter((l) => l.msg === 'stream error from the client')).toHaveLength(2);
    expect(logged.some((l) => l.obj.condition === 'unsupported-stanza-type')).toBe(false);
  });
});
