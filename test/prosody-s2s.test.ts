/**
 * Our s2s engine federating with a real Prosody 0.12 on loopback: a Prosody user (logged in with @xmpp/client)
 * and our domain exchange messages both ways, authenticated two ways:
 * - dialback (XEP-0220): neither server trusts the other's CA, and Prosody checks our key by opening its own
 *   connection back to us (docs/xmpp-engine-notes.md, pitfall 12);
 * - SASL EXTERNAL (XEP-0178): one CA issues both certificates, and Prosody requires it (`s2s_secure_auth`).
 *
 * Prosody dials port 5269 of the address its resolver gives, so this file owns 127.0.0.52/53:5269 and
 * 127.0.0.56/57:5269 (Prosody / us): no other test may use them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml as clientXml, type Client, type XmlElement } from '@xmpp/client';
import { S2sServer, parseElement, xml } from '@irsp/xmpp';
import type { BounceCondition, Element, S2sLogger } from '@irsp/xmpp';
import { freePorts, serverTlsFor, tempDir } from './support/irsp.js';
import { startProsody, type Prosody } from './support/prosody.js';
import { trustCaForXmppClients, xmppLogin } from './support/xmpp.js';

const PROSODY = 'prosody.test';
const OURS = 'irsp.test';

interface Line {
  msg: string;
  obj: Record<string, unknown>;
}

interface Mode {
  /** How the two servers authenticate each other. */
  method: 'dialback' | 'sasl-external';
  prosodyAddress: string;
  ourAddress: string;
}

describe.each<Mode>([
  { method: 'dialback', prosodyAddress: '127.0.0.52', ourAddress: '127.0.0.53' },
  { method: 'sasl-external', prosodyAddress: '127.0.0.56', ourAddress: '127.0.0.57' },
])('federation with Prosody by $method', ({ method, prosodyAddress, ourAddress }) => {
  const dirs: Awaited<ReturnType<typeof tempDir>>[] = [];
  let prosody: Prosody | undefined;
  let engine: S2sServer | undefined;
  let client: Client | undefined;
  let untrust: (() => void) | undefined;
  const lines: Line[] = [];
  const received: Element[] = [];
  const bounced: { stanza: string; condition: BounceCondition }[] = [];
  const toClient: XmlElement[] = [];

  const logger: S2sLogger = {
    debug: () => undefined,
    info: (obj, msg) => lines.push({ msg, obj: obj as Record<string, unknown> }),
    warn: (obj, msg) => lines.push({ msg, obj: obj as Record<string, unknown> }),
    error: (obj, msg) => lines.push({ msg, obj: obj as Record<string, unknown> }),
  };
  const logged = (msg: string) => lines.filter((l) => l.msg === msg).map((l) => l.obj);

  async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > end)
        throw new Error(`timed out waiting for ${what}\nprosody log:\n${await prosody?.log()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  beforeAll(async () => {
    // Dialback: two CAs, neither trusts the other's certificate. EXTERNAL: one CA, each trusts the other.
    const external = method === 'sasl-external';
    dirs.push(await tempDir('irsp-prosody-ca-'));
    if (!external) dirs.push(await tempDir('irsp-s2s-ca-'));
    const prosodyTls = await serverTlsFor(dirs[0]!.path, PROSODY, [PROSODY]);
    const ourTls = await serverTlsFor(dirs.at(-1)!.path, OURS, [OURS]);
    const [c2sPort] = await freePorts(1);
    prosody = await startProsody({
      domain: PROSODY,
      address: prosodyAddress,
      c2sPort: c2sPort!,
      tls: prosodyTls,
      hosts: { [PROSODY]: prosodyAddress, [OURS]: ourAddress },
      users: [{ username: 'pat', password: 'pat password' }],
      secureAuth: external,
    });
    engine = new S2sServer({
      domains: [OURS],
      tls: { cert: ourTls.cert, key: ourTls.key },
      ca: ourTls.ca,
      router: {
        incoming: (stanza) => void received.push(stanza),
        bounced: (stanza, condition) => void bounced.push({ stanza: stanza.toString(), condition }),
      },
      logger,
      routes: { [PROSODY]: { host: prosodyAddress, port: 5269 } },
      dialbackSecret: 'dialback secret of irsp.test',
    });
    await engine.listen(5269, ourAddress);
    untrust = trustCaForXmppClients(prosodyTls.ca);
    client = await xmppLogin({
      port: c2sPort!,
      domain: PROSODY,
      username: 'pat',
      password: 'pat password',
      resource: 'desk',
    });
    client.on('stanza', (stanza: XmlElement) => {
      if (stanza.name === 'message') toClient.push(stanza);
    });
  });

  afterAll(async () => {
    await client?.stop().catch(() => undefined);
    untrust?.();
    await engine?.close();
    await prosody?.stop();
    for (const dir of dirs) await dir.remove();
  });

  it('a Prosody user’s message reaches our router, Prosody authenticated as the method says', async () => {
    await client!.send(
      clientXml(
        'message',
        { to: `someone@${OURS}`, id: 'p1', type: 'chat' },
        clientXml('body', {}, 'hello irsp'),
      ),
    );
    await until(() => received.length === 1, 'the message from Prosody');
    const stanza = received[0]!;
    expect({
      name: stanza.name,
      from: stanza.attrs.from,
      to: stanza.attrs.to,
      id: stanza.attrs.id,
      type: stanza.attrs.type,
    }).toEqual({
      name: 'message',
      from: `pat@${PROSODY}/desk`,
      to: `someone@${OURS}`,
      id: 'p1',
      type: 'chat',
    });
    expect(stanza.getChildText('body')).toBe('hello irsp');
    expect(logged('s2s incoming stream authenticated')).toContainEqual(
      expect.objectContaining({ local: OURS, remote: PROSODY, method }),
    );
    // By dialback we checked Prosody's key with prosody.test over our own stream.
    if (method === 'dialback') {
      expect(logged('s2s dialback result checked')).toContainEqual(
        expect.objectContaining({ local: OURS, remote: PROSODY, verdict: 'valid' }),
      );
    }
  });

  it('our message reaches the Prosody user, our stream authenticated as the method says', async () => {
    engine!.send(
      xml(
        'message',
        { from: `someone@${OURS}/app`, to: `pat@${PROSODY}/desk`, id: 'i1', type: 'chat' },
        xml('body', {}, 'hello prosody'),
      ),
    );
    await until(() => toClient.length === 1, 'the message at the Prosody user');
    const message = parseElement(toClient[0]!.toString());
    expect({
      from: message.attrs.from,
      to: message.attrs.to,
      id: message.attrs.id,
      type: message.attrs.type,
    }).toEqual({
      from: `someone@${OURS}/app`,
      to: `pat@${PROSODY}/desk`,
      id: 'i1',
      type: 'chat',
    });
    expect(message.getChildText('body')).toBe('hello prosody');
    expect(logged('s2s outgoing stream authenticated')).toEqual([{ local: OURS, remote: PROSODY, method }]);
    // By dialback Prosody verified our key over its connection back to us.
    if (method === 'dialback') {
      expect(logged('s2s dialback key verified for the peer')).toContainEqual(
        expect.objectContaining({ local: OURS, remote: PROSODY, verdict: 'valid' }),
      );
    }
    expect(bounced).toEqual([]);
  });
});
