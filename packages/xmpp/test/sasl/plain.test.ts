import { scramCredential, type ScramCredential } from '@irsp/credentials';
import { beforeAll, describe, expect, it } from 'vitest';
import { plainMechanism, type CredentialLookup, type PlainOptions } from '../../src/sasl/index.js';
import { outcome, show, tableLookup, utf8 } from './helpers.js';

let users: Record<string, ScramCredential>;
beforeAll(async () => {
  users = {
    user: await scramCredential('pencil', 'sha256'),
    'us,er': await scramCredential('pencil', 'sha256'),
    spaced: await scramCredential('pen cil', 'sha256'),
    jürgen: await scramCredential('Grüße, 日本', 'sha256'),
    emoji: await scramCredential('key 🔑', 'sha256'),
  };
});

function start(options: PlainOptions = {}, lookup: CredentialLookup = tableLookup(users)) {
  return plainMechanism(lookup, options).start();
}

describe('PLAIN (RFC 4616)', () => {
  it('logs in with authzid NUL authcid NUL passwd', async () => {
    const lookup = tableLookup(users);
    const mechanism = plainMechanism(lookup);
    expect(mechanism.name).toBe('PLAIN');
    expect(show(await mechanism.start().step(utf8('\0user\0pencil')))).toEqual({
      kind: 'success',
      username: 'user',
    });
    expect(lookup.calls).toEqual([['user', 'sha256']]);
  });

  it('accepts non-ASCII usernames and passwords in UTF-8', async () => {
    expect(show(await start().step(utf8('\0jürgen\0Grüße, 日本')))).toEqual({
      kind: 'success',
      username: 'jürgen',
    });
    expect(show(await start().step(utf8('\0emoji\0key 🔑')))).toEqual({ kind: 'success', username: 'emoji' });
    // NFKC: the decomposed ü (u + U+0308) is the same user and the same password.
    expect(show(await start().step(utf8('\0ju\u0308rgen\0Gru\u0308ße, 日本')))).toEqual({
      kind: 'success',
      username: 'jürgen',
    });
  });

  it('applies SASLprep to the authcid and the password', async () => {
    // U+00A0 NO-BREAK SPACE maps to SPACE; U+00AD SOFT HYPHEN maps to nothing.
    expect(show(await start().step(utf8('\0spaced\0pen\u00a0cil')))).toEqual({
      kind: 'success',
      username: 'spaced',
    });
    expect(show(await start().step(utf8('\0spa\u00adced\0pen\u2003cil')))).toEqual({
      kind: 'success',
      username: 'spaced',
    });
    expect(outcome(await start().step(utf8('\0spaced\0pencil')))).toBe('not-authorized');
  });

  it('accepts an authzid equal to the authcid, or the bare JID when the domain is known', async () => {
    expect(outcome(await start().step(utf8('user\0user\0pencil')))).toBe('success');
    expect(outcome(await start({ domain: 'example.com' }).step(utf8('user@EXAMPLE.com\0user\0pencil')))).toBe(
      'success',
    );
  });

  it.each([
    ['another user', 'admin\0user\0pencil'],
    ['a bare JID without a configured domain', 'user@example.com\0user\0pencil'],
    ['a full JID', 'user@example.com/res\0user\0pencil'],
  ])('fails with invalid-authzid for %s', async (_name, message) => {
    expect(outcome(await start({}).step(utf8(message)))).toBe('invalid-authzid');
  });

  it('fails with invalid-authzid for a JID of another domain', async () => {
    expect(outcome(await start({ domain: 'example.com' }).step(utf8('user@example.org\0user\0pencil')))).toBe(
      'invalid-authzid',
    );
  });

  it('answers not-authorized to a wrong password and to an unknown user alike', async () => {
    expect(show(await start().step(utf8('\0user\0pencil2')))).toEqual({
      kind: 'failure',
      condition: 'not-authorized',
      username: 'user',
    });
    expect(show(await start().step(utf8('\0nobody\0pencil')))).toEqual({
      kind: 'failure',
      condition: 'not-authorized',
      username: 'nobody',
    });
    expect(show(await start().step(utf8('\0User\0pencil')))).toEqual({
      kind: 'failure',
      condition: 'not-authorized',
      username: 'User',
    });
  });

  it.each([
    ['an empty response', ''],
    ['one field', 'user'],
    ['two fields', 'user\0pencil'],
    ['four fields', '\0user\0pencil\0'],
    ['an empty authcid', '\0\0pencil'],
    ['an empty password', '\0user\0'],
  ])('fails with malformed-request on %s', async (_name, message) => {
    const lookup = tableLookup(users);
    expect(outcome(await start({}, lookup).step(utf8(message)))).toBe('malformed-request');
    expect(lookup.calls).toEqual([]);
  });

  it('fails with not-authorized when SASLprep rejects the authcid or the password', async () => {
    const lookup = tableLookup(users);
    expect(outcome(await start({}, lookup).step(utf8('\0\u00ad\0pencil')))).toBe('not-authorized');
    expect(outcome(await start({}, lookup).step(utf8('\0us\u0007er\0pencil')))).toBe('not-authorized');
    expect(outcome(await start({}, lookup).step(utf8('\0user\0pen\u0007cil')))).toBe('not-authorized');
    expect(outcome(await start({}, lookup).step(utf8('\0user\0\u00ad')))).toBe('not-authorized');
    expect(lookup.calls).toEqual([]);
  });

  it('fails with malformed-request on bytes that are not UTF-8 (e.g. Latin-1)', async () => {
    expect(outcome(await start().step(Buffer.from('\0spaced\0pen\xa0cil', 'latin1')))).toBe(
      'malformed-request',
    );
  });

  it('limits the message to 4096 bytes', async () => {
    const lookup: CredentialLookup = async () => users.user;
    const exact = `\0user\0${'p'.repeat(4096 - 6)}`;
    expect(Buffer.byteLength(exact)).toBe(4096);
    expect(outcome(await start({}, lookup).step(utf8(exact)))).toBe('not-authorized');
    expect(outcome(await start({}, lookup).step(utf8(exact + 'p')))).toBe('malformed-request');
  });

  it('sends an empty challenge when <auth> carries no initial response, once', async () => {
    const session = start();
    expect(show(await session.step(undefined))).toEqual({ kind: 'challenge', data: '' });
    expect(show(await session.step(utf8('\0user\0pencil')))).toEqual({ kind: 'success', username: 'user' });
    const again = start();
    await again.step(undefined);
    expect(outcome(await again.step(undefined))).toBe('malformed-request');
  });

  it('answers malformed-request to any step after it finished', async () => {
    const done = start();
    expect(outcome(await done.step(utf8('\0user\0pencil')))).toBe('success');
    expect(outcome(await done.step(utf8('\0user\0pencil')))).toBe('malformed-request');
    const failed = start();
    expect(outcome(await failed.step(utf8('\0user\0wrong')))).toBe('not-authorized');
    expect(outcome(await failed.step(utf8('\0user\0pencil')))).toBe('malformed-request');
  });

  it('answers temporary-auth-failure when the lookup fails or the credential is unusable', async () => {
    const broken: CredentialLookup = async () => {
      throw new Error('database down');
    };
    expect(show(await start({}, broken).step(utf8('\0user\0pencil')))).toEqual({
      kind: 'failure',
      condition: 'temporary-auth-failure',
    });
    const zero: CredentialLookup = async () => ({ ...users.user!, iterations: 0 });
    expect(outcome(await start({}, zero).step(utf8('\0user\0pencil')))).toBe('temporary-auth-failure');
  });
});
