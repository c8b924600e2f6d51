/** Signed requests (clauses 8.6, 8.8: our addition), Messages 14–15 across ASs and Table 8. */
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  SIGNATURE_WINDOW_SECONDS,
  buildForm,
  message14AcrossAs,
  message15AcrossAs,
  newNonce,
  nonceSchema,
  parseAnyForm,
  sign,
  signatureMatches,
  signingString,
  thirdPartyExchangeSchema,
  thirdPartyMessage,
  thirdPartyPath,
  thirdPartyPushSchema,
  timestampFresh,
  webhookSchema,
} from '../src/index.js';

const KEY = 'k'.repeat(32);
const PARTS = {
  method: 'post',
  path: '/peer/exchange',
  timestamp: 1_700_000_000,
  nonce: 'n0nce-0123456789ab',
  payload: 'userid=alice&data=hi',
};

describe('signatures', () => {
  it('sign the method, path, timestamp, nonce and SHA-256 of the payload with HMAC-SHA256', () => {
    const digest = createHash('sha256').update(PARTS.payload).digest('hex');
    const expected = `IRSP-HMAC-SHA256\nPOST\n/peer/exchange\n1700000000\nn0nce-0123456789ab\n${digest}`;
    expect(signingString(PARTS)).toBe(expected);
    expect(sign(KEY, PARTS)).toBe(createHmac('sha256', KEY).update(expected).digest('hex'));
    expect(sign(KEY, { ...PARTS, payload: Buffer.from(PARTS.payload) })).toBe(sign(KEY, PARTS));
  });

  it('match only the same key and parts, and never a malformed value', () => {
    const signature = sign(KEY, PARTS);
    expect(signatureMatches(KEY, PARTS, signature)).toBe(true);
    for (const changed of [
      { method: 'GET' },
      { path: '/exchange' },
      { timestamp: PARTS.timestamp + 1 },
      { nonce: 'n0nce-0123456789ac' },
      { payload: 'userid=alice&data=ho' },
    ])
      expect(signatureMatches(KEY, { ...PARTS, ...changed }, signature)).toBe(false);
    expect(signatureMatches('j'.repeat(32), PARTS, signature)).toBe(false);
    for (const bad of [
      undefined,
      '',
      signature.toUpperCase(),
      signature.slice(1),
      [signature],
      `${signature}0`,
    ])
      expect(signatureMatches(KEY, PARTS, bad)).toBe(false);
  });

  it('timestamps are fresh within ±300 s; nonces are random and valid', () => {
    expect(SIGNATURE_WINDOW_SECONDS).toBe(300);
    expect(timestampFresh(1000, 1300)).toBe(true);
    expect(timestampFresh(1300, 1000)).toBe(true);
    expect(timestampFresh(999, 1300)).toBe(false);
    expect(timestampFresh(1301, 1000)).toBe(false);
    const nonce = newNonce();
    expect(nonceSchema.safeParse(nonce).success).toBe(true);
    expect(newNonce()).not.toBe(nonce);
    for (const bad of ['short', 'x'.repeat(129), 'has space 0123456789', 'ü'.repeat(20)])
      expect(nonceSchema.safeParse(bad).success).toBe(false);
  });
});

describe('Messages 14–15 across ASs (clause 8.6)', () => {
  const auth = { appid: 'default-as2', as: 'as2.irsp.test', timestamp: '1700000000', nonce: PARTS.nonce };

  it('carry the printed parameters, the appid, its AS, a timestamp and a nonce — no token', () => {
    expect(Object.keys(message14AcrossAs.schema.shape)).toEqual([
      'userid',
      'data',
      'appid',
      'as',
      'timestamp',
      'nonce',
    ]);
    expect(Object.keys(message15AcrossAs.schema.shape)).toEqual([
      'deviceid',
      'data',
      'appid',
      'as',
      'timestamp',
      'nonce',
    ]);
    expect([message14AcrossAs.number, message15AcrossAs.number, message14AcrossAs.clause]).toEqual([
      14,
      15,
      '8.6',
    ]);
    const form = buildForm(message15AcrossAs, { deviceid: '#Lock', data: 'x', ...auth });
    expect(form).toBe(
      'deviceid=%23Lock&data=x&appid=default-as2&as=as2.irsp.test&timestamp=1700000000&nonce=n0nce-0123456789ab',
    );
    const parsed = parseAnyForm([message14AcrossAs, message15AcrossAs], form);
    expect(parsed).toMatchObject({ ok: true, params: { deviceid: '#lock', timestamp: 1_700_000_000 } });
  });

  it('refuse a bad AS, timestamp or nonce, and a missing one', () => {
    const operations = [message14AcrossAs, message15AcrossAs];
    for (const bad of [{ as: 'AS2..test' }, { timestamp: '-1' }, { timestamp: '1.5' }, { nonce: 'short' }]) {
      expect(
        parseAnyForm(operations, buildForm(message14AcrossAs, { userid: 'a', data: 'x', ...auth, ...bad }))
          .ok,
      ).toBe(false);
    }
    expect(
      parseAnyForm(operations, 'userid=a&data=x&appid=b&as=as2.irsp.test&nonce=n0nce-0123456789ab').ok,
    ).toBe(false);
  });
});

describe('Table 8 (clause 8.8, our definition)', () => {
  const envelope = { version: '1', appid: 'acme', timestamp: 1_700_000_000, nonce: PARTS.nonce };

  it('a push names a user or a device, an exchange also the target application server', () => {
    const user = thirdPartyPushSchema.parse({ ...envelope, userid: 'Alice', data: 'hi' });
    expect(user).toEqual({ ...envelope, userid: 'alice', data: 'hi' });
    expect(thirdPartyMessage('push', user)).toBe(12);
    expect(
      thirdPartyMessage('push', thirdPartyPushSchema.parse({ ...envelope, deviceid: '#l', data: 'x' })),
    ).toBe(13);
    const exchange = thirdPartyExchangeSchema.parse({
      ...envelope,
      deviceid: '#l',
      data: 'x',
      to: 'billing',
    });
    expect(thirdPartyMessage('exchange', exchange)).toBe(15);
    expect(thirdPartyPath('acme', 'push')).toBe('/thirdparty/acme/push');
  });

  it('refuses both or neither of userid and deviceid, unknown fields, a wrong version and oversized data', () => {
    for (const bad of [
      { ...envelope, userid: 'a', deviceid: '#b', data: 'x' },
      { ...envelope, data: 'x' },
      { ...envelope, userid: 'a', data: 'x', extra: 1 },
      { ...envelope, version: '2', userid: 'a', data: 'x' },
      { ...envelope, timestamp: '1700000000', userid: 'a', data: 'x' },
      { ...envelope, userid: 'a', data: 'x'.repeat(65_537) },
      { ...envelope, userid: 'a', data: '' },
    ])
      expect(thirdPartyPushSchema.safeParse(bad).success).toBe(false);
    expect(thirdPartyExchangeSchema.safeParse({ ...envelope, userid: 'a', data: 'x' }).success).toBe(false);
  });

  it('webhooks carry one received message each, with a stable id', () => {
    const body = { ...envelope, id: '7', message: 14, userid: 'alice', data: 'x', from: 'billing-as1' };
    expect(webhookSchema.parse(body)).toEqual(body);
    expect(
      webhookSchema.parse({ ...envelope, id: '8', message: 10, deviceid: '#l', type: 'online' }),
    ).toMatchObject({
      message: 10,
    });
    expect(
      webhookSchema.safeParse({ ...envelope, id: '8', message: 10, deviceid: '#l', type: 'offline' }).success,
    ).toBe(false);
    expect(
      webhookSchema.safeParse({ ...envelope, id: '9', message: 12, userid: 'a', data: 'x' }).success,
    ).toBe(false);
  });
});
