import type { Socket } from 'node:net';

const uncork = (socket: Socket): void => {
  socket.uncork();
};

/**
 * Writes `text`; the writes made in one tick leave together: the first corks the socket until the next tick, so
 * the stanzas routed from one read (a client's window of messages) become one TLS record and one system call, not
 * one each. Returns what `socket.write` returns.
 */
export function writeInTick(socket: Socket, text: string, written?: (error?: Error | null) => void): boolean {
  if (socket.writableCorked === 0) {
    socket.cork();
    process.nextTick(uncork, socket);
  }
  return socket.write(text, written);
}
