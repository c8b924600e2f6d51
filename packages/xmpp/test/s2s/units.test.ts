/** The dialback key (XEP-0185) against published vectors, and the resolver (RFC 6120 §3.2, RFC 2782 ordering). */
import { describe, expect, it } from 'vitest';
import {
  createResolver,
  dialbackKey,
  orderSrv,
  parseElement,
  readVerdict,
  type SrvRecord,
} from '../../src/index.js';

describe('dialbackKey (XEP-0185)', () => {
  it('gives the key of the XEP-0185 example', () => {
    // Secret s3cr3tf0rd14lb4ck, receiving xmpp.example.com, originating example.org, stream id D60000229F.
    expect(dialbackKey('s3cr3tf0rd14lb4ck', 'xmpp.example.com', 'example.org', 'D60000229F')).toBe(
      '37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643',
    );
  });

  it('gives the key of the XEP-0220 §2.1.1 example (receiving montague.example, originating capulet.example)', () => {
    expect(dialbackKey('s3cr3tf0rd14lb4ck', 'montague.example', 'capulet.example', 'D60000229F')).toBe(
      'b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3',
    );
  });

  it('depends on the order of the domains and on every input', () => {
    const base = dialbackKey('secret', 'b.test', 'a.test', 'id1');
    expect(dialbackKey('secret', 'a.test', 'b.test', 'id1')).not.toBe(base);
    expect(dialbackKey('secret', 'b.test', 'a.test', 'id2')).not.toBe(base);
    expect(dialbackKey('secret2', 'b.test', 'a.test', 'id1')).not.toBe(base);
  });
});

describe('readVerdict (XEP-0220 §2.4)', () => {
  it('reads valid, invalid and the error condition', () => {
    const db = "xmlns:db='jabber:server:dialback'";
    expect(readVerdict(parseElement(`<db:result ${db} type='valid'/>`))).toBe('valid');
    expect(readVerdict(parseElement(`<db:verify ${db} type='invalid' id='x'/>`))).toBe('invalid');
    expect(
      readVerdict(
        parseElement(
          `<db:result ${db} type='error'><error type='cancel'>` +
            "<remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
        ),
      ),
    ).toEqual({ error: 'remote-server-not-found' });
    expect(readVerdict(parseElement(`<db:result ${db} type='maybe'/>`))).toBeUndefined();
  });
});

describe('resolver', () => {
  const noSrv = async (): Promise<SrvRecord[]> => {
    throw Object.assign(new Error('queryA ENOTFOUND'), { code: 'ENOTFOUND' });
  };

  it('takes static routes first, one address or several, without asking DNS', async () => {
    const asked: string[] = [];
    const resolve = createResolver({
      routes: {
        'a.test': { host: '127.0.0.2', port: 5270 },
        'b.test': [
          { host: '127.0.0.3', port: 1 },
          { host: '127.0.0.4', port: 2 },
        ],
      },
      resolveSrv: async (name) => {
        asked.push(name);
        return [];
      },
    });
    expect(await resolve('a.test')).toEqual([{ host: '127.0.0.2', port: 5270 }]);
    expect(await resolve('b.test')).toEqual([
      { host: '127.0.0.3', port: 1 },
      { host: '127.0.0.4', port: 2 },
    ]);
    expect(asked).toEqual([]);
  });

  it('asks for _xmpp-server._tcp SRV records and orders them by priority (RFC 6120 §3.2.1)', async () => {
    const asked: string[] = [];
    const resolve = createResolver({
      resolveSrv: async (name) => {
        asked.push(name);
        return [
          { name: 'late.example.', port: 5271, priority: 20, weight: 0 },
          { name: 'first.example', port: 5269, priority: 5, weight: 0 },
          { name: 'second.example', port: 5270, priority: 10, weight: 0 },
        ];
      },
    });
    expect(await resolve('example.net')).toEqual([
      { host: 'first.example', port: 5269 },
      { host: 'second.example', port: 5270 },
      { host: 'late.example', port: 5271 },
    ]);
    expect(asked).toEqual(['_xmpp-server._tcp.example.net']);
  });

  it('falls back to the domain on port 5269 without SRV records, and to nothing for the "." target', async () => {
    expect(await createResolver({ resolveSrv: noSrv })('example.net')).toEqual([
      { host: 'example.net', port: 5269 },
    ]);
    expect(await createResolver({ resolveSrv: async () => [] })('example.net')).toEqual([
      { host: 'example.net', port: 5269 },
    ]);
    const dot = createResolver({ resolveSrv: async () => [{ name: '.', port: 0, priority: 0, weight: 0 }] });
    expect(await dot('example.net')).toEqual([]);
  });

  it('picks among records of one priority in proportion to their weight (RFC 2782)', () => {
    const records: SrvRecord[] = [
      { name: 'w0', port: 1, priority: 1, weight: 0 },
      { name: 'w10', port: 1, priority: 1, weight: 10 },
      { name: 'w30', port: 1, priority: 1, weight: 30 },
      { name: 'p2', port: 1, priority: 2, weight: 5 },
    ];
    const names = (random: number[]) => {
      const values = [...random];
      return orderSrv(records, () => values.shift()!).map((r) => r.name);
    };
    // Sum 40: threshold floor(r·41). 0 → the weight-0 record (placed first); 39/41 → w30 (running 0, 10, 40).
    expect(names([0, 0, 0, 0])).toEqual(['w0', 'w10', 'w30', 'p2']);
    expect(names([39 / 41, 0, 0, 0])).toEqual(['w30', 'w0', 'w10', 'p2']);
    expect(names([10.5 / 41, 0.99, 0, 0])).toEqual(['w10', 'w30', 'w0', 'p2']);
    // Over many draws w30 comes first about three times as often as w10.
    let w30 = 0;
    let w10 = 0;
    for (let i = 0; i < 4000; i++) {
      const first = orderSrv(records)[0]!.name;
      if (first === 'w30') w30++;
      if (first === 'w10') w10++;
    }
    expect(w30 / w10).toBeGreaterThan(2.3);
    expect(w30 / w10).toBeLessThan(3.9);
  });
});
