import { describe, expect, it } from 'vitest';
import { scramMechanism } from '../../src/sasl/index.js';
import { credentialFor, show, tableLookup, utf8 } from './helpers.js';

describe('SCRAM-SHA-1: the RFC 5802 §5 example', () => {
  const credential = credentialFor('pencil', 'QSXCR+Q6sek8bf92', 4096, 'sha1');

  it('answers the exact server-first and server-final messages', async () => {
    const lookup = tableLookup({ user: credential });
    const mechanism = scramMechanism('sha1', lookup, { serverNonce: '3rfcNHYJY1ZVvWVs7j' });
    expect(mechanism.name).toBe('SCRAM-SHA-1');
    const session = mechanism.start();
    expect(show(await session.step(utf8('n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL')))).toEqual({
      kind: 'challenge',
      data: 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
    });
    expect(
      show(
        await session.step(
          utf8('c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts='),
        ),
      ),
    ).toEqual({ kind: 'success', username: 'user', data: 'v=rmF9pqV8S7suAoZWja4dJRkFsKQ=' });
    expect(lookup.calls).toEqual([['user', 'sha1']]);
  });

  it('rejects the RFC proof with one character changed', async () => {
    const session = scramMechanism('sha1', tableLookup({ user: credential }), {
      serverNonce: '3rfcNHYJY1ZVvWVs7j',
    }).start();
    await session.step(utf8('n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL'));
    expect(
      show(
        await session.step(
          utf8('c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v1X8v3Bz2T0CJGbJQyF0X+HI4Ts='),
        ),
      ),
    ).toEqual({ kind: 'failure', condition: 'not-authorized', username: 'user' });
  });
});

describe('SCRAM-SHA-256: the RFC 7677 §3 example', () => {
  const credential = credentialFor('pencil', 'W22ZaJ0SNY7soEsUEjb6gQ==', 4096, 'sha256');
  const serverNonce = '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';

  it('answers the exact server-first and server-final messages', async () => {
    const lookup = tableLookup({ user: credential });
    const mechanism = scramMechanism('sha256', lookup, { serverNonce });
    expect(mechanism.name).toBe('SCRAM-SHA-256');
    const session = mechanism.start();
    expect(show(await session.step(utf8('n,,n=user,r=rOprNGfwEbeRWgbNEkqO')))).toEqual({
      kind: 'challenge',
      data: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    });
    expect(
      show(
        await session.step(
          utf8(
            'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,' +
              'p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
          ),
        ),
      ),
    ).toEqual({ kind: 'success', username: 'user', data: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=' });
    expect(lookup.calls).toEqual([['user', 'sha256']]);
  });

  it('rejects the SCRAM-SHA-1 credential of the same password (the hash is part of the lookup)', async () => {
    const sha1 = credentialFor('pencil', 'W22ZaJ0SNY7soEsUEjb6gQ==', 4096, 'sha1');
    const session = scramMechanism('sha256', async (_u, hash) => (hash === 'sha1' ? sha1 : undefined), {
      serverNonce,
    }).start();
    expect((await session.step(utf8('n,,n=user,r=rOprNGfwEbeRWgbNEkqO'))).kind).toBe('challenge');
    expect(
      show(
        await session.step(
          utf8(
            'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,' +
              'p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
          ),
        ),
      ),
    ).toEqual({ kind: 'failure', condition: 'not-authorized', username: 'user' });
  });
});
