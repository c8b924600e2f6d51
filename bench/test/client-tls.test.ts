/**
 * The load generator's TLS client: its cheaper name check (subjectAltName from the native certificate) still
 * refuses a certificate for another name or from another CA.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureServerCert, type TlsMaterial } from '@irsp/config';
import { startTls } from '../src/load/client.js';

const DOMAIN = 'as1.irsp.test';
let dirs: string[] = [];
let ours: TlsMaterial;
let foreign: TlsMaterial;
let server: Server;
let port: number;

beforeAll(async () => {
  dirs = [await mkdtemp(join(tmpdir(), 'bench-tls-')), await mkdtemp(join(tmpdir(), 'bench-tls-'))];
  ours = await ensureServerCert(dirs[0]!, 'xmpp', { dns: [DOMAIN], ip: ['127.0.0.1'] });
  foreign = await ensureServerCert(dirs[1]!, 'xmpp', { dns: [DOMAIN], ip: ['127.0.0.1'] });
  server = createServer({ cert: ours.cert, key: ours.key }, (socket) => socket.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  server.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function handshake(servername: string, ca: string): Promise<string> {
  const raw: Socket = connect(port, '127.0.0.1');
  await once(raw, 'connect');
  const secure = startTls(raw, servername, ca);
  try {
    await once(secure, 'secureConnect');
    return 'secure';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  } finally {
    secure.destroy();
  }
}

describe('load generator TLS', () => {
  it('connects to a server whose certificate names the domain, from the run CA', async () => {
    expect(await handshake(DOMAIN, ours.ca)).toBe('secure');
  });

  it('refuses a certificate for another name', async () => {
    expect(await handshake('as2.irsp.test', ours.ca)).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('does a full handshake unless offered a session, and resumes the one the server issued', async () => {
    const connectOnce = async (session?: Buffer) => {
      const raw: Socket = connect(port, '127.0.0.1');
      await once(raw, 'connect');
      const secure = startTls(raw, DOMAIN, ours.ca, session);
      let issued: Buffer | undefined;
      secure.on('session', (s: Buffer) => (issued = s));
      await once(secure, 'secureConnect');
      const reused = secure.isSessionReused();
      // TLS 1.3 tickets come after the handshake, with the server's first data ('ok' here).
      secure.resume();
      await once(secure, 'end');
      secure.destroy();
      return { reused, issued };
    };
    const first = await connectOnce();
    expect(first.reused).toBe(false);
    expect(first.issued).toBeInstanceOf(Buffer);
    expect((await connectOnce(first.issued)).reused).toBe(true);
    expect((await connectOnce()).reused).toBe(false);
  });

  it('refuses a certificate of another CA', async () => {
    expect(await handshake(DOMAIN, foreign.ca)).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});
