/**
 * Nobody holds a connection without getting in (issue 12 item 7): on every listener (c2s STARTTLS, direct TLS,
 * WebSocket; s2s) a connection that sends nothing, one byte, half a TLS ClientHello, or completes TLS and then
 * says nothing is closed within the handshake/authentication bounds, and the listener's count of open sockets
 * returns to 0. The connection budget refuses the connection beyond the cap, clearly and with one log line.
 */
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  C2sServer,
  ConnectionBudget,
  FALLBACK_MAX_CONNECTIONS,
  S2sServer,
  connectionCap,
  openFileLimit,
  type C2sRouter,
} from '../src/index.js';
import { serverTlsFor, tempDir } from '../../../test/support/irsp.js';
import { captureLogger, RecordingRouter } from './s2s/helpers.js';

const DOMAIN = 'example.test';
const HANDSHAKE_MS = 400;
const AUTH_MS = 1_200;
/** Generous: the machine is shared; what matters is that the socket closes at all. */
const CLOSE_WITHIN_MS = 15_000;

const router: C2sRouter = { bound: () => undefined, route: () => undefined, unbound: () => undefined };

let dir: Awaited<ReturnType<typeof tempDir>>;
let tls: { cert: string; key: string; ca: string };
let c2s: C2sServer;
let s2s: S2sServer;
const ports = { starttls: 0, directTls: 0, websocket: 0, s2s: 0 };
let clientHello: Buffer;

/** The first flight of a real TLS client, captured from a listener that never answers. */
async function captureClientHello(): Promise<Buffer> {
  const sink = createServer();
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const port = (sink.address() as { port: number }).port;
  const first = new Promise<Buffer>((resolve) =>
    sink.once('connection', (socket: Socket) => socket.once('data', resolve)),
  );
  const client = tlsConnect({ port, host: '127.0.0.1', servername: DOMAIN });
  client.on('error', () => undefined);
  const hello = await first;
  client.destroy();
  sink.close();
  return hello;
}

/** A raw TCP connection and a promise of its close. */
async function connect(port: number): Promise<{ socket: Socket; closed: Promise<void>; read: () => string }> {
  const socket = netConnect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  return { socket, closed, read: () => text };
}

/** A completed TLS handshake on a direct-TLS port, then silence. */
async function tlsSilent(port: number): Promise<{ closed: Promise<void> }> {
  const socket = tlsConnect({ port, host: '127.0.0.1', servername: DOMAIN, ca: tls.ca });
  socket.on('error', () => undefined);
  socket.resume(); // reads (and drops) what comes, so the server's close is seen
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'secureConnect');
  return { closed };
}

async function closesWithin(closed: Promise<void>, ms = CLOSE_WITHIN_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'open'>((resolve) => (timer = setTimeout(() => resolve('open'), ms)));
  const outcome = await Promise.race([closed.then(() => 'closed' as const), late]);
  clearTimeout(timer);
  expect(outcome).toBe('closed');
}

async function countReaches(count: () => number, value: number): Promise<void> {
  const end = Date.now() + 5_000;
  while (count() !== value && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  expect(count()).toBe(value);
}

beforeAll(async () => {
  dir = await tempDir();
  tls = await serverTlsFor(dir.path, 'edges', [DOMAIN]);
  clientHello = await captureClientHello();
  const silent = captureLogger().logger;
  c2s = new C2sServer({
    domain: DOMAIN,
    tls,
    mechanisms: [],
    router,
    logger: silent,
    limits: { authTimeoutMs: AUTH_MS },
    handshakeTimeoutMs: HANDSHAKE_MS,
  });
  ports.starttls = await c2s.listen(0, '127.0.0.1');
  ports.directTls = await c2s.listenDirectTls(0, '127.0.0.1');
  ports.websocket = await c2s.listenWebSocket(0, '127.0.0.1');
  s2s = new S2sServer({
    domains: [DOMAIN],
    tls,
    ca: tls.ca,
    router: new RecordingRouter(),
    logger: silent,
    dialbackSecret: 'a secret of 16 characters or more',
    limits: { negotiationTimeoutMs: AUTH_MS },
  });
  ports.s2s = await s2s.listen(0, '127.0.0.1');
});

afterAll(async () => {
  await c2s?.close();
  await s2s?.close();
  await dir?.remove();
});

describe.each([
  ['c2s direct TLS', 'directTls'],
  ['c2s WebSocket (HTTPS)', 'websocket'],
] as const)('%s: connections that do not finish the TLS handshake are closed', (_name, listener) => {
  it('sending nothing', async () => {
    const { closed } = await connect(ports[listener]);
    await closesWithin(closed);
    await countReaches(() => c2s.connectionCount, 0);
  });

  it('sending one byte', async () => {
    const { socket, closed } = await connect(ports[listener]);
    socket.write(Buffer.from([0x16]));
    await closesWithin(closed);
    await countReaches(() => c2s.connectionCount, 0);
  });

  it('sending half a ClientHello', async () => {
    const { socket, closed } = await connect(ports[listener]);
    socket.write(clientHello.subarray(0, Math.floor(clientHello.length / 2)));
    await closesWithin(closed);
    await countReaches(() => c2s.connectionCount, 0);
  });
});

describe('connections that finish TLS and then say nothing are closed', () => {
  it('c2s direct TLS without a stream header', async () => {
    await closesWithin((await tlsSilent(ports.directTls)).closed);
    await countReaches(() => c2s.connectionCount, 0);
  });

  it('c2s WebSocket without an HTTP request', async () => {
    await closesWithin((await tlsSilent(ports.websocket)).closed);
    await countReaches(() => c2s.connectionCount, 0);
  });

  it('c2s WebSocket with half an upgrade request', async () => {
    const socket = tlsConnect({ port: ports.websocket, host: '127.0.0.1', servername: DOMAIN, ca: tls.ca });
    socket.on('error', () => undefined);
    socket.resume();
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await once(socket, 'secureConnect');
    socket.write('GET /xmpp-websocket HTTP/1.1\r\nHost: example.test\r\n');
    await closesWithin(closed);
    await countReaches(() => c2s.connectionCount, 0);
  });

  it('c2s WebSocket upgraded without <open/>', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${ports.websocket}/xmpp-websocket`, ['xmpp'], { ca: tls.ca });
    ws.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    await once(ws, 'open');
    await closesWithin(closed);
    await countReaches(() => c2s.connectionCount, 0);
  });
});

describe('c2s STARTTLS port', () => {
  it('closes a connection sending nothing, with connection-timeout', async () => {
    const { closed, read } = await connect(ports.starttls);
    await closesWithin(closed);
    expect(read()).toContain(
      "<stream:error><connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
    );
    await countReaches(() => c2s.connectionCount, 0);
  });

  it('closes a connection stuck in the TLS handshake after <proceed/>', async () => {
    const { socket, closed, read } = await connect(ports.starttls);
    socket.write(
      `<?xml version='1.0'?><stream:stream to='${DOMAIN}' version='1.0' xmlns='jabber:client' ` +
        "xmlns:stream='http://etherx.jabber.org/streams'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    );
    const end = Date.now() + 5_000;
    while (!read().includes('<proceed') && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    socket.write(clientHello.subarray(0, 10));
    await closesWithin(closed);
    await countReaches(() => c2s.connectionCount, 0);
  });
});

describe('s2s port', () => {
  it('closes a connection sending nothing, with connection-timeout', async () => {
    const { closed, read } = await connect(ports.s2s);
    await closesWithin(closed);
    expect(read()).toContain(
      "<stream:error><connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
    );
    await countReaches(() => s2s.connectionCount, 0);
  });

  it('closes a connection sending one byte', async () => {
    const { socket, closed } = await connect(ports.s2s);
    socket.write('<');
    await closesWithin(closed);
    await countReaches(() => s2s.connectionCount, 0);
  });
});

describe('the connection budget', () => {
  it('refuses the connection beyond the cap with resource-constraint, logging once per episode', async () => {
    const { logger, lines } = captureLogger();
    const capped = new C2sServer({
      domain: DOMAIN,
      tls,
      mechanisms: [],
      router,
      logger,
      maxConnections: 3,
      handshakeTimeoutMs: HANDSHAKE_MS,
    });
    const port = await capped.listen(0, '127.0.0.1');
    const direct = await capped.listenDirectTls(0, '127.0.0.1');
    try {
      const held = [await connect(port), await connect(port), await connect(direct)];
      await countReaches(() => capped.connectionCount, 3);
      const refused = await connect(port);
      await closesWithin(refused.closed, 5_000);
      expect(refused.read()).toMatch(
        new RegExp(
          "^<\\?xml version='1.0'\\?><stream:stream xmlns='jabber:client' " +
            "xmlns:stream='http://etherx.jabber.org/streams' id='[0-9a-f]{24}' from='example.test' " +
            "version='1.0' xml:lang='en'><stream:error><resource-constraint " +
            "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' " +
            "xml:lang='en'>too many connections</text></stream:error></stream:stream>$",
        ),
      );
      // On the TLS port nothing can be said in clear: the socket is closed.
      const refusedTls = await connect(direct);
      await closesWithin(refusedTls.closed, 5_000);
      expect(refusedTls.read()).toBe('');
      expect(capped.connectionCount).toBe(3);
      const warnings = lines.filter((l) => l.msg === 'connection limit reached: refusing new connections');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.obj).toMatchObject({ max: 3, listener: 'c2s' });

      held[0]!.socket.destroy();
      await countReaches(() => capped.connectionCount, 2);
      const again = await connect(port);
      await countReaches(() => capped.connectionCount, 3);
      expect(lines.find((l) => l.msg === 'connection limit: accepting again')?.obj).toEqual({
        max: 3,
        refused: 2,
      });
      for (const c of [...held, again]) c.socket.destroy();
    } finally {
      await capped.close();
    }
  });

  it('is shared between c2s and s2s when given to both', async () => {
    const { logger } = captureLogger();
    const budget = new ConnectionBudget(1, logger);
    const shared = new S2sServer({
      domains: [DOMAIN],
      tls,
      router: new RecordingRouter(),
      logger,
      dialbackSecret: 'a secret of 16 characters or more',
      connections: budget,
    });
    const sharedC2s = new C2sServer({
      domain: DOMAIN,
      tls,
      mechanisms: [],
      router,
      logger,
      connections: budget,
    });
    const s2sPort = await shared.listen(0, '127.0.0.1');
    const c2sPort = await sharedC2s.listen(0, '127.0.0.1');
    try {
      const first = await connect(c2sPort);
      await countReaches(() => budget.count, 1);
      const refused = await connect(s2sPort);
      await closesWithin(refused.closed, 5_000);
      expect(refused.read()).toContain("<stream:stream xmlns='jabber:server'");
      expect(refused.read()).toContain("<resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>");
      first.socket.destroy();
    } finally {
      await sharedC2s.close();
      await shared.close();
    }
  });
});

describe('the default cap', () => {
  it('reads the soft limit on open files', async () => {
    const file = join(dir.path, 'limits');
    await writeFile(
      file,
      'Limit                     Soft Limit           Hard Limit           Units     \n' +
        'Max open files            20000                40000                files     \n',
    );
    expect(openFileLimit(file)).toBe(20_000);
    await writeFile(file, 'Max open files            unlimited            unlimited            files\n');
    expect(openFileLimit(file)).toBeUndefined();
    expect(openFileLimit(join(dir.path, 'missing'))).toBeUndefined();
  });

  it('keeps a reserve below the file limit and never exceeds it', () => {
    expect(connectionCap(undefined, 20_000)).toBe(18_976);
    expect(connectionCap(undefined, 5_000)).toBe(4_500);
    expect(connectionCap(undefined, 1_024)).toBe(768);
    expect(connectionCap(100_000, 20_000)).toBe(18_976);
    expect(connectionCap(500, 20_000)).toBe(500);
    expect(connectionCap(500, undefined)).toBe(500);
    expect(connectionCap(undefined, undefined)).toBe(FALLBACK_MAX_CONNECTIONS);
  });
});
