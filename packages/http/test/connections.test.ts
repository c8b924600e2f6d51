/**
 * The HTTPS shell holds no socket for a client that never gets a request through (issue 12 item 7): no TLS
 * handshake, half of one, or TLS and no request headers all end within the handshake bound; `admit` refuses a
 * socket before its handshake.
 */
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createLogger } from '../src/logger.js';
import { createService } from '../src/server.js';
import { serverTlsFor, tempDir } from '../../../test/support/irsp.js';

const CLOSE_WITHIN_MS = 15_000;
let dir: Awaited<ReturnType<typeof tempDir>>;
let tls: { cert: string; key: string; ca: string };
let app: FastifyInstance;
let port: number;
let refusing = false;

async function closed(socket: Socket): Promise<'closed' | 'open'> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    once(socket, 'close').then(() => 'closed' as const),
    new Promise<'open'>((resolve) => (timer = setTimeout(() => resolve('open'), CLOSE_WITHIN_MS))),
  ]);
  clearTimeout(timer);
  return outcome;
}

function raw(): Socket {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume();
  return socket;
}

beforeAll(async () => {
  dir = await tempDir();
  tls = await serverTlsFor(dir.path, 'http', ['localhost']);
  const logger = createLogger({ name: 'test', level: 'silent' });
  app = createService({ logger, tls, handshakeTimeoutMs: 400, admit: () => !refusing });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});

afterAll(async () => {
  await app?.close();
  await dir?.remove();
});

describe('the HTTPS server closes connections that do not get a request through', () => {
  it('sending nothing', async () => {
    const socket = raw();
    await once(socket, 'connect');
    expect(await closed(socket)).toBe('closed');
  });

  it('sending one byte of a handshake', async () => {
    const socket = raw();
    await once(socket, 'connect');
    socket.write(Buffer.from([0x16]));
    expect(await closed(socket)).toBe('closed');
  });

  it('finishing TLS and sending no request', async () => {
    const socket = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca: tls.ca });
    socket.on('error', () => undefined);
    const answer: string[] = [];
    socket.on('data', (d: Buffer) => answer.push(d.toString('latin1')));
    await once(socket, 'secureConnect');
    expect(await closed(socket)).toBe('closed');
    expect(answer.join('')).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it('still serves a request', async () => {
    const socket = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca: tls.ca });
    socket.on('error', () => undefined);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    await once(socket, 'secureConnect');
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(await closed(socket)).toBe('closed');
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"status":"ok"\}$/);
  });
});

describe('admission', () => {
  it('closes a socket the budget refuses, before any TLS', async () => {
    refusing = true;
    try {
      const socket = raw();
      const read: Buffer[] = [];
      socket.on('data', (d: Buffer) => read.push(d));
      expect(await closed(socket)).toBe('closed');
      expect(Buffer.concat(read).length).toBe(0);
    } finally {
      refusing = false;
    }
  });
});
