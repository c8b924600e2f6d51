/**
 * TcpTransport's output: what is written in one tick leaves in one socket write (one TLS record on a TLS socket),
 * in order; later writes go out on their own tick.
 */
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TcpTransport } from '../../src/c2s/tcp-transport.js';

const sockets: Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

/** A connected pair on loopback: the server side (wrapped by the transport) and the client side (reads). */
async function pair(): Promise<{ server: Socket; client: Socket }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as { port: number };
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  const [server] = await accepted;
  listener.close();
  sockets.push(server, client);
  return { server, client };
}

const transportOn = (socket: Socket) =>
  new TcpTransport(socket, {
    directTls: false,
    secureContext: createSecureContext(),
    maxStanzaBytes: 65_536,
    idleTimeoutMs: 60_000,
  });

describe('TcpTransport output', () => {
  it('sends the writes of one tick in one socket write, and a later write on its own', async () => {
    const { server, client } = await pair();
    const transport = transportOn(server);
    const writev = vi.spyOn(server as unknown as { _writev: () => void }, '_writev');
    const write = vi.spyOn(server as unknown as { _write: () => void }, '_write');
    let received = '';
    client.setEncoding('utf8');
    client.on('data', (chunk: string) => (received += chunk));

    expect(transport.write('<a/>')).toBe(true);
    expect(transport.write('<b/>')).toBe(true);
    expect(transport.write('<c/>')).toBe(true);
    expect(writev).not.toHaveBeenCalled();
    expect(write).not.toHaveBeenCalled();
    await new Promise((resolve) => process.nextTick(resolve));
    expect(writev).toHaveBeenCalledTimes(1);
    expect(write).not.toHaveBeenCalled();

    await new Promise((resolve) => setImmediate(resolve));
    transport.write('<d/>');
    await new Promise((resolve) => process.nextTick(resolve));
    expect(writev).toHaveBeenCalledTimes(1);
    expect(write).toHaveBeenCalledTimes(1);

    await vi.waitFor(() => expect(received).toBe('<a/><b/><c/><d/>'));
  });

  it('leaves an explicit cork to its uncork', async () => {
    const { server, client } = await pair();
    const transport = transportOn(server);
    let received = '';
    client.setEncoding('utf8');
    client.on('data', (chunk: string) => (received += chunk));
    transport.cork();
    transport.write('<x/>');
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.writableLength).toBe(4);
    transport.uncork();
    await vi.waitFor(() => expect(received).toBe('<x/>'));
  });
});
