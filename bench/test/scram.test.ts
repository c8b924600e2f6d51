import { describe, expect, it } from 'vitest';
import { ScramSha1Client, plainMessage } from '../src/load/scram.js';

// RFC 5802 §5: the SCRAM-SHA-1 exchange for user "user", password "pencil".
const NONCE = 'fyko+d2lbbFgONRv9qkxdawL';
const SERVER_FIRST = 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096';

describe('ScramSha1Client', () => {
  it('produces the messages of the RFC 5802 test vector and verifies the server', () => {
    const client = new ScramSha1Client('user', 'pencil', NONCE);
    expect(client.first()).toBe('n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL');
    expect(client.final(SERVER_FIRST)).toBe(
      'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    );
    expect(client.verify('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=')).toBe(true);
    expect(client.verify('v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=')).toBe(false);
  });

  it('computes SaltedPassword once per password, salt and iteration count', () => {
    const cache = new Map<string, Buffer>();
    new ScramSha1Client('user', 'pencil', NONCE, cache).final(SERVER_FIRST);
    new ScramSha1Client('user', 'pencil', NONCE, cache).final(SERVER_FIRST);
    expect([...cache.keys()]).toEqual(['4096:QSXCR+Q6sek8bf92:pencil']);
    expect(cache.get('4096:QSXCR+Q6sek8bf92:pencil')!.toString('hex')).toBe(
      '1d96ee3a529b5a5f9e47c01f229a2cb8a6e15f7d',
    );
  });

  it('escapes = and , in the username and refuses a server nonce that does not extend its own', () => {
    expect(new ScramSha1Client('a=b,c', 'p', 'n').first()).toBe('n,,n=a=3Db=2Cc,r=n');
    expect(() =>
      new ScramSha1Client('user', 'pencil', NONCE).final('r=other,s=QSXCR+Q6sek8bf92,i=4096'),
    ).toThrow('bad SCRAM server-first-message');
  });

  it('builds PLAIN with an empty authzid', () => {
    expect(plainMessage('alice', 'secret')).toBe('\0alice\0secret');
  });
});
