/** Which DAS the LBS sends a device to (section 7, F2; decision 0020): load ÷ capacity among the healthy. */
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { DasInstanceConfig } from '@irsp/config';
import { DasDirectory, chooseDas, reachableDasProbe, type DasCandidate } from '../src/osap/das-choice.js';

const candidate = (host: string, load: number, capacity: number, healthy = true): DasCandidate => ({
  address: { host, port: 8883 },
  capacity,
  healthy,
  load,
});
const instance = (host: string, capacity: number, enabled = true): DasInstanceConfig => ({
  host,
  port: 8883,
  capacity,
  enabled,
});

describe('chooseDas', () => {
  it('takes the lowest load ÷ capacity, the first listed on a tie, never an unhealthy one', () => {
    expect(
      chooseDas([candidate('a', 50, 100), candidate('b', 40, 50), candidate('c', 10, 100, false)]),
    ).toEqual({
      host: 'a',
      port: 8883,
    });
    expect(chooseDas([candidate('a', 10, 100), candidate('b', 5, 50)])).toEqual({ host: 'a', port: 8883 });
    expect(chooseDas([candidate('a', 0, 1, false)])).toBeUndefined();
    expect(chooseDas([])).toBeUndefined();
  });
});

describe('DasDirectory', () => {
  it('without a probe, spreads the devices it sends by capacity and skips disabled instances', async () => {
    const directory = new DasDirectory([instance('a', 100), instance('b', 200), instance('c', 1000, false)]);
    const hosts: string[] = [];
    for (let i = 0; i < 6; i++) hosts.push((await directory.choose())!.host);
    expect(hosts).toEqual(['a', 'b', 'b', 'a', 'b', 'b']);
  });

  it('counts an instance whose probe throws or rejects as unhealthy', async () => {
    const directory = new DasDirectory(
      [instance('a', 100), instance('b', 100), instance('c', 100)],
      (das) => {
        if (das.host === 'a') throw new Error('unreachable');
        if (das.host === 'b') return Promise.reject(new Error('timeout'));
        return { healthy: true, load: 99 };
      },
    );
    expect(await directory.choose()).toEqual({ host: 'c', port: 8883 });
    const none = new DasDirectory([instance('a', 100)], () => Promise.reject(new Error('down')));
    expect(await none.choose()).toBeUndefined();
  });

  it('reachableDasProbe: its own DAS with its real load, others healthy while they accept TCP', async () => {
    const listening = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    const open = (listening.address() as AddressInfo).port;
    const closedServer = createServer();
    await new Promise<void>((resolve) => closedServer.listen(0, '127.0.0.1', resolve));
    const closed = (closedServer.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closedServer.close(() => resolve()));
    try {
      const probe = reachableDasProbe({ host: '0.0.0.0', port: 8883, load: () => 42 }, { ttlMs: 0 });
      const at = (port: number) => ({ host: '127.0.0.1', port, capacity: 100, enabled: true });
      expect(await probe(at(8883), 7)).toEqual({ healthy: true, load: 42 });
      expect(await probe(at(open), 7)).toEqual({ healthy: true, load: 7 });
      expect(await probe(at(closed), 7)).toEqual({ healthy: false, load: 7 });
      const directory = new DasDirectory([at(closed), at(open)], probe);
      expect(await directory.choose()).toEqual({ host: '127.0.0.1', port: open });
    } finally {
      await new Promise<void>((resolve) => listening.close(() => resolve()));
    }
  });
});
