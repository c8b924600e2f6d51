/**
 * What a peer can make us hold (issue 12 item 10): outgoing routes retire when they have nothing left to do
 * (the idle stream closed with `</stream:stream>`), dialback verifications a peer asks for are bounded per
 * incoming stream and in total, and domains that are not plausible are never looked up or dialled.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S2sServer, xml } from '../../src/index.js';
import {
  RawPeer,
  RecordingRouter,
  SECRET_A,
  SECRET_B,
  TestCa,
  captureLogger,
  logged,
  startEngine,
  streamErrorText,
  until,
  type RouteTable,
  type Tls,
} from './helpers.js';

let ca: TestCa;
let tlsA: Tls;
let tlsB: Tls;
/** A listener that accepts and never says a word: every verification sent there waits. */
let silent: Server;
const held: Socket[] = [];
let silentPort: number;

beforeAll(async () => {
  ca = await TestCa.create();
  [tlsA, tlsB] = await Promise.all([ca.issue('a.test'), ca.issue('b.test')]);
  silent = createServer((socket) => {
    socket.on('error', () => undefined);
    held.push(socket);
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  silentPort = (silent.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const socket of held) socket.destroy();
  silent?.close();
  await ca?.remove();
});

describe('outgoing routes', () => {
  it('retire once their stream closed idle, and come back when needed', async () => {
    const table: RouteTable = {};
    const a = await startEngine({
      domain: 'a.test',
      tls: tlsA,
      ca: ca.cert,
      secret: SECRET_A,
      table,
      limits: { outgoingIdleMs: 300 },
    });
    const b = await startEngine({ domain: 'b.test', tls: tlsB, ca: ca.cert, secret: SECRET_B, table });
    try {
      a.server.send(xml('message', { from: 'alice@a.test', to: 'bob@b.test', id: 'm1' }));
      await until(() => b.router.received.length === 1, 'the first message');
      expect(a.server.outgoingRouteCount).toBe(1);
      await until(() => a.server.outgoingRouteCount === 0, 'the route retired', 10_000);
      expect(logged(a.lines, 's2s outgoing stream idle: closed')).toEqual([
        { local: 'a.test', remote: 'b.test' },
      ]);
      // b saw the stream end without an error.
      expect(logged(b.lines, 's2s incoming stream error')).toEqual([]);
      a.server.send(xml('message', { from: 'alice@a.test', to: 'bob@b.test', id: 'm2' }));
      await until(() => b.router.received.length === 2, 'the second message');
      expect(a.server.outgoingRouteCount).toBe(1);
    } finally {
      await a.server.close();
      await b.server.close();
    }
  });

  it('retire after a failed attempt once the retry is due with nothing waiting', async () => {
    const { logger } = captureLogger();
    const router = new RecordingRouter();
    const server = new S2sServer({
      domains: ['a.test'],
      tls: tlsA,
      router,
      logger,
      resolver: async () => [],
      dialbackSecret: SECRET_A,
      limits: { reconnectBaseMs: 100 },
    });
    try {
      server.send(xml('message', { from: 'alice@a.test', to: 'bob@nowhere.example.com', id: 'x' }));
      await until(() => router.bounces.length === 1, 'the bounce');
      expect(router.bounces[0]!.condition).toBe('remote-server-not-found');
      await until(() => server.outgoingRouteCount === 0, 'the failed route retired');
    } finally {
      await server.close();
    }
  });
});

describe('dialback verifications a peer asks for', () => {
  /** An engine for a.test whose resolver sends every domain to the silent listener, and counts lookups. */
  async function engine(limits: { maxPendingDialbacks?: number; maxPendingDialbacksTotal?: number }) {
    const { logger, lines } = captureLogger();
    const lookups: string[] = [];
    const server = new S2sServer({
      domains: ['a.test'],
      tls: tlsA,
      router: new RecordingRouter(),
      logger,
      resolver: async (domain) => {
        lookups.push(domain);
        return [{ host: '127.0.0.1', port: silentPort }];
      },
      dialbackSecret: SECRET_A,
      limits: { negotiationTimeoutMs: 20_000, ...limits },
    });
    const port = await server.listen(0, '127.0.0.1');
    return { server, port, lookups, lines };
  }

  const result = (from: string) => `<db:result from='${from}' to='a.test'>${'0'.repeat(64)}</db:result>`;

  it('are bounded per incoming stream: one more ends it with policy-violation', async () => {
    const { server, port } = await engine({ maxPendingDialbacks: 3 });
    const peer = await RawPeer.connect(port);
    try {
      await peer.secure('p0.example.com', 'a.test');
      for (let i = 0; i < 3; i++) peer.write(result(`p${i}.example.com`));
      await new Promise((r) => setTimeout(r, 200));
      expect(peer.take()).toBe('');
      peer.write(result('p3.example.com'));
      await peer.closed;
      expect(peer.take()).toBe(streamErrorText('policy-violation', 'too many dialback requests at once'));
    } finally {
      peer.destroy();
      await server.close();
    }
  });

  it('are bounded in total: beyond, the result is answered resource-constraint (wait) and nothing is dialled', async () => {
    const { server, port, lookups } = await engine({ maxPendingDialbacksTotal: 2 });
    const first = await RawPeer.connect(port);
    const second = await RawPeer.connect(port);
    try {
      await first.secure('p1.example.com', 'a.test');
      await second.secure('p2.example.com', 'a.test');
      first.write(result('p1.example.com'));
      second.write(result('p2.example.com'));
      await until(() => lookups.length === 2, 'two lookups');
      second.write(result('p3.example.com'));
      expect(await second.waitFor(/<\/db:result>/)).toBe(
        "<db:result from='a.test' to='p3.example.com' type='error'><error type='wait'>" +
          "<resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
      );
      expect(lookups).toEqual(['p1.example.com', 'p2.example.com']);
    } finally {
      first.destroy();
      second.destroy();
      await server.close();
    }
  });

  it.each(['127.0.0.1', '[::1]', 'localhost', 'intranet'])(
    'never look up or dial an implausible domain (%s): remote-server-not-found',
    async (domain) => {
      const { server, port, lookups } = await engine({});
      const peer = await RawPeer.connect(port);
      try {
        await peer.secure('p.example.com', 'a.test');
        peer.write(result(domain));
        expect(await peer.waitFor(/<\/db:result>/)).toBe(
          `<db:result from='a.test' to='${domain}' type='error'><error type='cancel'>` +
            "<remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
        );
        expect(lookups).toEqual([]);
      } finally {
        peer.destroy();
        await server.close();
      }
    },
  );

  it('with the default resolver, never look up a special-use domain (RFC 6761) that has no static route', async () => {
    const { logger } = captureLogger();
    const server = new S2sServer({
      domains: ['a.test'],
      tls: tlsA,
      router: new RecordingRouter(),
      logger,
      routes: { 'partner.test': { host: '127.0.0.1', port: silentPort } },
      dialbackSecret: SECRET_A,
    });
    const port = await server.listen(0, '127.0.0.1');
    const peer = await RawPeer.connect(port);
    try {
      await peer.secure('p.example.com', 'a.test');
      for (const domain of ['evil.test', 'printer.local', 'x.internal', 'y.onion']) {
        peer.write(result(domain));
        expect(await peer.waitFor(/<\/db:result>/)).toContain(
          `to='${domain}' type='error'><error type='cancel'><remote-server-not-found`,
        );
        peer.take();
      }
      expect(server.outgoingRouteCount).toBe(0);
      // A domain with a static route is dialled (the silent listener: the check waits).
      peer.write(result('partner.test'));
      await until(() => server.outgoingRouteCount === 1, 'the route to partner.test');
    } finally {
      peer.destroy();
      await server.close();
    }
  });
});
