import type { ScramHash } from '@irsp/credentials';
import { describe, expect, it } from 'vitest';
import { scramMechanism, type CredentialLookup, type ScramOptions } from '../../src/sasl/index.js';
import { clientFinal, credentialFor, outcome, show, tableLookup, utf8 } from './helpers.js';

const SALT = 'QSXCR+Q6sek8bf92';
const sha1User = credentialFor('pencil', SALT, 4096, 'sha1');
const sha256User = credentialFor('pencil', SALT, 4096, 'sha256');
const users = { user: sha1User, 'us,er': sha1User, 'us=er': sha1User };

function start(options: ScramOptions = {}, lookup: CredentialLookup = tableLookup(users)) {
  return scramMechanism('sha1', lookup, { serverNonce: 'SNONCE', ...options }).start();
}

/** A whole exchange with a correct client (independent implementation in helpers.ts). */
async function login(opts: {
  clientFirst: string;
  password?: string;
  hash?: ScramHash;
  extensions?: string;
  options?: ScramOptions;
  lookup?: CredentialLookup;
}) {
  const hash = opts.hash ?? 'sha1';
  const lookup = opts.lookup ?? tableLookup(hash === 'sha1' ? users : { user: sha256User });
  const session = scramMechanism(hash, lookup, opts.options ?? {}).start();
  const challenge = await session.step(utf8(opts.clientFirst));
  if (challenge.kind !== 'challenge') return { challenge, final: undefined, expected: undefined };
  const serverFirst = challenge.data.toString();
  const gs2Header = opts.clientFirst.split(',').slice(0, 2).join(',') + ',';
  const bare = opts.clientFirst.slice(gs2Header.length);
  const nonce = serverFirst.split(',')[0]?.slice(2) ?? '';
  const withoutProof = `c=${Buffer.from(gs2Header).toString('base64')},r=${nonce}${opts.extensions ?? ''}`;
  const { proof, serverSignature } = clientFinal(
    hash,
    opts.password ?? 'pencil',
    bare,
    serverFirst,
    withoutProof,
  );
  const final = await session.step(utf8(`${withoutProof},p=${proof}`));
  return { challenge, final, expected: serverSignature, session };
}

describe('SCRAM exchanges with a correct client', () => {
  it('logs in with SCRAM-SHA-1 and SCRAM-SHA-256 and a random server nonce', async () => {
    for (const hash of ['sha1', 'sha256'] as const) {
      const { challenge, final, expected } = await login({ hash, clientFirst: 'n,,n=user,r=abc' });
      expect(show(challenge).kind).toBe('challenge');
      // 24 random bytes by default: 32 base64 characters after the client nonce.
      expect(challenge.kind === 'challenge' && challenge.data.toString()).toMatch(
        /^r=abc[A-Za-z0-9+/]{32},s=QSXCR\+Q6sek8bf92,i=4096$/,
      );
      expect(final && show(final)).toEqual({ kind: 'success', username: 'user', data: `v=${expected}` });
    }
  });

  it('uses a fresh server nonce for each exchange and honours nonceBytes', async () => {
    const nonces = new Set<string>();
    const mechanism = scramMechanism('sha1', tableLookup(users), { nonceBytes: 18 });
    for (let i = 0; i < 5; i++) {
      const step = await mechanism.start().step(utf8('n,,n=user,r=abc'));
      const data = step.kind === 'challenge' ? step.data.toString() : '';
      expect(data).toMatch(/^r=abc[A-Za-z0-9+/]{24},s=QSXCR\+Q6sek8bf92,i=4096$/);
      nonces.add(data);
    }
    expect(nonces.size).toBe(5);
  });

  it("accepts 'y,,' (the client supports channel binding, we advertise no -PLUS) with c=eSws", async () => {
    const { final, expected } = await login({ clientFirst: 'y,,n=user,r=abc' });
    expect(final && show(final)).toEqual({ kind: 'success', username: 'user', data: `v=${expected}` });
  });

  it('accepts an authzid equal to the authcid, and the bare JID when the domain is known', async () => {
    const same = await login({ clientFirst: 'n,a=user,n=user,r=abc' });
    expect(same.final && outcome(same.final)).toBe('success');
    const jid = await login({
      clientFirst: 'n,a=user@Example.COM,n=user,r=abc',
      options: { domain: 'example.com' },
    });
    expect(jid.final && show(jid.final)).toEqual({
      kind: 'success',
      username: 'user',
      data: `v=${jid.expected}`,
    });
  });

  it('decodes =2C and =3D in the username and the authzid', async () => {
    const comma = await login({ clientFirst: 'n,a=us=2Cer,n=us=2Cer,r=abc' });
    expect(comma.final && show(comma.final)).toMatchObject({ kind: 'success', username: 'us,er' });
    const equals = await login({ clientFirst: 'n,,n=us=3Der,r=abc' });
    expect(equals.final && show(equals.final)).toMatchObject({ kind: 'success', username: 'us=er' });
  });

  it('applies SASLprep to the username before the lookup', async () => {
    const lookup = tableLookup(users);
    // U+00AD SOFT HYPHEN maps to nothing; U+2168 ROMAN NUMERAL NINE becomes "IX" under NFKC.
    const { final } = await login({ clientFirst: 'n,,n=us\u00ader,r=abc', lookup });
    expect(final && show(final)).toMatchObject({ kind: 'success', username: 'user' });
    await login({ clientFirst: 'n,,n=\u2168,r=abc', lookup });
    expect(lookup.calls).toEqual([
      ['user', 'sha1'],
      ['IX', 'sha1'],
    ]);
  });

  it('ignores optional extensions and includes them in the AuthMessage', async () => {
    const first = await login({ clientFirst: 'n,,n=user,r=abc,x=1,y=a=b' });
    expect(first.final && outcome(first.final)).toBe('success');
    const final = await login({ clientFirst: 'n,,n=user,r=abc', extensions: ',x=ext' });
    expect(final.final && show(final.final)).toEqual({
      kind: 'success',
      username: 'user',
      data: `v=${final.expected}`,
    });
  });

  it('sends an empty challenge when <auth> carries no initial response, once', async () => {
    const session = start();
    expect(show(await session.step(undefined))).toEqual({ kind: 'challenge', data: '' });
    expect(show(await session.step(utf8('n,,n=user,r=abc')))).toEqual({
      kind: 'challenge',
      data: 'r=abcSNONCE,s=QSXCR+Q6sek8bf92,i=4096',
    });
    const again = start();
    await again.step(undefined);
    expect(outcome(await again.step(undefined))).toBe('malformed-request');
  });

  it('accepts a client-first-message of exactly 4096 bytes', async () => {
    const prefix = 'n,,n=user,r=';
    expect(outcome(await start().step(utf8(prefix + 'a'.repeat(4096 - prefix.length))))).toBe('challenge');
  });
});

describe('SCRAM client-first-message errors', () => {
  it.each([
    ['channel binding requested (p=)', 'p=tls-unique,,n=user,r=abc', 'malformed-request'],
    ['channel binding requested (p=tls-exporter)', 'p=tls-exporter,a=user,n=user,r=abc', 'malformed-request'],
    ['an unknown gs2-cbind-flag', 'x,,n=user,r=abc', 'malformed-request'],
    ['an upper-case flag', 'N,,n=user,r=abc', 'malformed-request'],
    ['a GS2 non-standard flag', 'F,n,,n=user,r=abc', 'malformed-request'],
    ['no gs2-header', 'n=user,r=abc', 'malformed-request'],
    ['an empty authzid', 'n,a=,n=user,r=abc', 'malformed-request'],
    ['a gs2-header field that is not a=', 'n,b=user,n=user,r=abc', 'malformed-request'],
    ['a bad escape in the authzid', 'n,a=us=41er,n=user,r=abc', 'malformed-request'],
    ['another authzid', 'n,a=admin,n=user,r=abc', 'invalid-authzid'],
    [
      'a bare JID authzid without a configured domain',
      'n,a=user@example.com,n=user,r=abc',
      'invalid-authzid',
    ],
    ['the reserved m= extension', 'n,,m=x,n=user,r=abc', 'malformed-request'],
    ['an empty username', 'n,,n=,r=abc', 'malformed-request'],
    ['attributes in the wrong order', 'n,,r=abc,n=user', 'malformed-request'],
    ['no username', 'n,,r=abc', 'malformed-request'],
    ['no nonce', 'n,,n=user', 'malformed-request'],
    ['an empty nonce', 'n,,n=user,r=', 'malformed-request'],
    ['a nonce with a space', 'n,,n=user,r=ab c', 'malformed-request'],
    ['a non-ASCII nonce', 'n,,n=user,r=abé', 'malformed-request'],
    ['a nonce with a control character', 'n,,n=user,r=ab\x7f', 'malformed-request'],
    ['=2c in lower case', 'n,,n=us=2cer,r=abc', 'malformed-request'],
    ['another = escape', 'n,,n=us=41er,r=abc', 'malformed-request'],
    ['a truncated escape', 'n,,n=user=2,r=abc', 'malformed-request'],
    ['a bare =', 'n,,n=user=,r=abc', 'malformed-request'],
    ['a trailing comma', 'n,,n=user,r=abc,', 'malformed-request'],
    ['an extension with a two-letter name', 'n,,n=user,r=abc,xy=1', 'malformed-request'],
    ['an extension without a value', 'n,,n=user,r=abc,x=', 'malformed-request'],
    ['a NUL character', 'n,,n=user,r=abc\0', 'malformed-request'],
    ['a username that SASLprep maps to nothing', 'n,,n=\u00ad,r=abc', 'not-authorized'],
    ['a username with a prohibited character', 'n,,n=us\u0007er,r=abc', 'not-authorized'],
  ])('fails on %s', async (_name, message, condition) => {
    const lookup = tableLookup(users);
    const step = await start({}, lookup).step(utf8(message));
    expect(outcome(step)).toBe(condition);
    expect(lookup.calls).toEqual([]);
  });

  it('fails on data that is not UTF-8, empty, or over 4096 bytes', async () => {
    expect(
      outcome(
        await start().step(Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xc3, 0x28, 0x2c, 0x72, 0x3d, 0x61])),
      ),
    ).toBe('malformed-request');
    expect(outcome(await start().step(Buffer.alloc(0)))).toBe('malformed-request');
    const prefix = 'n,,n=user,r=';
    expect(outcome(await start().step(utf8(prefix + 'a'.repeat(4097 - prefix.length))))).toBe(
      'malformed-request',
    );
  });

  it.each([
    ['p=tls-unique,,n=user,r=abc', 'channel binding is not supported'],
    ['n,,m=x,n=user,r=abc', 'mandatory extensions are not supported'],
    ['n,,n=us=41er,r=abc', 'invalid username'],
    ['n,,n=user,r=ab c', 'invalid nonce'],
  ])('explains the malformed-request for %s', async (message, text) => {
    expect(show(await start().step(utf8(message)))).toEqual({
      kind: 'failure',
      condition: 'malformed-request',
      text,
    });
  });

  it('answers temporary-auth-failure when the lookup fails or the credential is unusable', async () => {
    const broken: CredentialLookup = async () => {
      throw new Error('database down');
    };
    expect(show(await start({}, broken).step(utf8('n,,n=user,r=abc')))).toEqual({
      kind: 'failure',
      condition: 'temporary-auth-failure',
    });
    const shortKey: CredentialLookup = async () => ({ ...sha1User, storedKey: sha256User.storedKey });
    expect(outcome(await start({}, shortKey).step(utf8('n,,n=user,r=abc')))).toBe('temporary-auth-failure');
    const noIterations: CredentialLookup = async () => ({ ...sha1User, iterations: 0 });
    expect(outcome(await start({}, noIterations).step(utf8('n,,n=user,r=abc')))).toBe(
      'temporary-auth-failure',
    );
  });
});

describe('SCRAM client-final-message errors', () => {
  const nonce = 'abcSNONCE';
  async function afterFirst() {
    const session = start();
    expect(outcome(await session.step(utf8('n,,n=user,r=abc')))).toBe('challenge');
    return session;
  }
  const goodProof = clientFinal(
    'sha1',
    'pencil',
    'n=user,r=abc',
    `r=${nonce},s=${SALT},i=4096`,
    `c=biws,r=${nonce}`,
  ).proof;

  it('accepts the correct client-final-message (control for the cases below)', async () => {
    const session = await afterFirst();
    expect(outcome(await session.step(utf8(`c=biws,r=${nonce},p=${goodProof}`)))).toBe('success');
  });

  it.each([
    ['c= of another gs2-header', `c=eSws,r=${nonce},p=${goodProof}`, 'malformed-request'],
    ['c= with channel binding data', `c=biwsAAAA,r=${nonce},p=${goodProof}`, 'malformed-request'],
    ['the client nonce only', `c=biws,r=abc,p=${goodProof}`, 'malformed-request'],
    ['another server nonce', `c=biws,r=abcSNONCF,p=${goodProof}`, 'malformed-request'],
    ['no proof', `c=biws,r=${nonce}`, 'malformed-request'],
    ['the proof not last', `c=biws,r=${nonce},p=${goodProof},x=1`, 'malformed-request'],
    ['attributes in the wrong order', `r=${nonce},c=biws,p=${goodProof}`, 'malformed-request'],
    ['no channel binding', `r=${nonce},p=${goodProof}`, 'malformed-request'],
    ['a proof that is not base64', `c=biws,r=${nonce},p=${goodProof.slice(0, -2)}!=`, 'malformed-request'],
    ['a proof of the wrong length', `c=biws,r=${nonce},p=${goodProof.slice(0, -4)}`, 'malformed-request'],
    ['an empty proof', `c=biws,r=${nonce},p=`, 'malformed-request'],
    ['a bad extension', `c=biws,r=${nonce},xy=1,p=${goodProof}`, 'malformed-request'],
    ['a NUL character', `c=biws,r=${nonce},p=${goodProof}\0`, 'malformed-request'],
    ['a wrong proof', `c=biws,r=${nonce},p=${Buffer.alloc(20, 7).toString('base64')}`, 'not-authorized'],
    ['a proof for other extensions', `c=biws,r=${nonce},x=1,p=${goodProof}`, 'not-authorized'],
  ])('fails on %s', async (_name, message, condition) => {
    const session = await afterFirst();
    expect(outcome(await session.step(utf8(message)))).toBe(condition);
    // The session is over after a failure.
    expect(outcome(await session.step(utf8(`c=biws,r=${nonce},p=${goodProof}`)))).toBe('malformed-request');
  });

  it('fails on a missing, empty, non-UTF-8 or oversized response', async () => {
    expect(outcome(await (await afterFirst()).step(undefined))).toBe('malformed-request');
    expect(outcome(await (await afterFirst()).step(Buffer.alloc(0)))).toBe('malformed-request');
    expect(outcome(await (await afterFirst()).step(Buffer.from([0x63, 0x3d, 0xff])))).toBe(
      'malformed-request',
    );
    const padded = `c=biws,r=${nonce},x=${'a'.repeat(4096)},p=${goodProof}`;
    expect(outcome(await (await afterFirst()).step(utf8(padded)))).toBe('malformed-request');
  });

  it('answers malformed-request to any step after a success', async () => {
    const session = await afterFirst();
    expect(outcome(await session.step(utf8(`c=biws,r=${nonce},p=${goodProof}`)))).toBe('success');
    expect(show(await session.step(utf8(`c=biws,r=${nonce},p=${goodProof}`)))).toEqual({
      kind: 'failure',
      condition: 'malformed-request',
      text: 'the SASL exchange is over',
    });
    expect(outcome(await session.step(undefined))).toBe('malformed-request');
  });

  it('fails both steps when the caller does not wait for the first', async () => {
    let release: () => void = () => {};
    const slow: CredentialLookup = () =>
      new Promise((resolve) => {
        release = () => resolve(sha1User);
      });
    const session = start({}, slow);
    const first = session.step(utf8('n,,n=user,r=abc'));
    const second = await session.step(utf8('n,,n=user,r=abc'));
    release();
    expect(outcome(second)).toBe('malformed-request');
    expect(outcome(await first)).toBe('malformed-request');
    expect(outcome(await session.step(utf8('n,,n=user,r=abc')))).toBe('malformed-request');
  });
});

describe('SCRAM for unknown users', () => {
  const shape = /^r=abc[A-Za-z0-9+/]{32},s=[A-Za-z0-9+/]{22}==,i=4096$/;

  it('answers a plausible server-first-message and fails only at the final step', async () => {
    const { challenge, final } = await login({ clientFirst: 'n,,n=nobody,r=abc' });
    expect(challenge.kind === 'challenge' && challenge.data.toString()).toMatch(shape);
    expect(final && show(final)).toEqual({
      kind: 'failure',
      condition: 'not-authorized',
      username: 'nobody',
    });
  });

  it('fails even with a proof made from the fake salt and iteration count', async () => {
    for (const password of ['', 'pencil', 'anything']) {
      const { final } = await login({ clientFirst: 'n,,n=nobody,r=abc', password });
      expect(final && outcome(final)).toBe('not-authorized');
    }
  });

  it('gives the same salt to the same unknown user, a different one to another', async () => {
    const mechanism = scramMechanism('sha1', tableLookup(users));
    const salt = async (name: string) => {
      const step = await mechanism.start().step(utf8(`n,,n=${name},r=abc`));
      return step.kind === 'challenge' ? step.data.toString().split(',')[1] : undefined;
    };
    const first = await salt('nobody');
    expect(first).toMatch(/^s=[A-Za-z0-9+/]{22}==$/);
    expect(await salt('nobody')).toBe(first);
    expect(await salt('somebody')).not.toBe(first);
  });

  it('derives fake salts from unknownUserKey, so instances can agree', async () => {
    const key = Buffer.alloc(32, 1);
    const salt = async (options: ScramOptions, hash: ScramHash = 'sha1') => {
      const step = await scramMechanism(hash, tableLookup({}), options)
        .start()
        .step(utf8('n,,n=nobody,r=abc'));
      return step.kind === 'challenge' ? step.data.toString().split(',')[1] : undefined;
    };
    expect(await salt({ unknownUserKey: key })).toBe(await salt({ unknownUserKey: key }));
    expect(await salt({ unknownUserKey: key })).not.toBe(await salt({ unknownUserKey: Buffer.alloc(32, 2) }));
    expect(await salt({ unknownUserKey: key })).not.toBe(await salt({ unknownUserKey: key }, 'sha256'));
    expect(await salt({})).not.toBe(await salt({}));
  });
});

describe('scramMechanism options', () => {
  it('refuses a server nonce under 18 random bytes and an unusable fixed nonce', () => {
    const lookup = tableLookup({});
    expect(() => scramMechanism('sha1', lookup, { nonceBytes: 17 })).toThrow(RangeError);
    expect(() => scramMechanism('sha1', lookup, { nonceBytes: 18.5 })).toThrow(RangeError);
    expect(() => scramMechanism('sha1', lookup, { serverNonce: 'a,b' })).toThrow(RangeError);
    expect(() => scramMechanism('sha1', lookup, { serverNonce: '' })).toThrow(RangeError);
    expect(scramMechanism('sha1', lookup, { nonceBytes: 18 }).name).toBe('SCRAM-SHA-1');
  });
});
