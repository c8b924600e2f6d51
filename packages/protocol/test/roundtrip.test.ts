/** Build → parse is the identity, for every message and client operation, whatever the values contain. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_OPERATIONS,
  MESSAGES,
  buildForm,
  buildUrl,
  canonicalLocalPart,
  clientDeviceModify,
  clientDeviceRegister,
  clientDeviceRemove,
  clientUserModify,
  clientUserRegister,
  clientUserRemove,
  message10,
  message11,
  message12,
  message13,
  message14,
  message15,
  message8,
  message9,
  parseAnyForm,
  parseForm,
  type Operation,
} from '../src/index.js';
import { appid, data, domain, extras, localPart, rawLocalPart, text } from './arbitraries.js';

type Fields = Record<string, string>;

const user = localPart('user');
const device = localPart('device');
const password = text(1, 1024);
const token = text(1, 512);
const verifycode = text(0, 256);
const info = text(1, 256);

const auth = { appid, token };
const fromAccountServer = { version: fc.constant('1'), ...auth };
const withDeviceInfo = (name: fc.Arbitrary<string>) =>
  fc.record(
    { ...fromAccountServer, name, password, verifycode, type: info, vendor: info, model: info },
    { requiredKeys: ['version', 'appid', 'token', 'name', 'password'] },
  );

/** Valid parameters of each message, written from the clause 8 text; and where a GET for it is served. */
const CASES: Record<number, { params: fc.Arbitrary<Fields>; serviceUri?: string; servedWith: Operation[] }> =
  {
    1: { params: fc.record({ ...fromAccountServer, name: user, password }), servedWith: [] },
    2: { params: withDeviceInfo(device), servedWith: [] },
    3: { params: fc.record({ ...fromAccountServer, name: user, password }), servedWith: [] },
    4: { params: withDeviceInfo(device), servedWith: [] },
    5: { params: fc.record({ ...fromAccountServer, name: user }), servedWith: [] },
    6: { params: fc.record({ ...fromAccountServer, name: device }), servedWith: [] },
    7: { params: fc.record({ deviceid: device, verifycode, ...auth }), servedWith: [] },
    8: {
      params: fc.record({ userid: user, data, ...auth }),
      serviceUri: '/user/upload',
      servedWith: [message8],
    },
    9: {
      params: fc.record({ deviceid: device, data, ...auth }),
      serviceUri: '/dev/up',
      servedWith: [message9],
    },
    10: {
      params: fc.record({ deviceid: device, type: fc.constant('online'), ...auth }),
      serviceUri: '/device/status',
      servedWith: [message10, message11],
    },
    11: {
      params: fc.record({ deviceid: device, type: fc.constant('offline'), ...auth }),
      serviceUri: '/device/status',
      servedWith: [message10, message11],
    },
    12: {
      params: fc.record({ userid: user, data, ...auth }),
      serviceUri: '/push',
      servedWith: [message12, message13],
    },
    13: {
      params: fc.record({ deviceid: device, data, ...auth }),
      serviceUri: '/push',
      servedWith: [message12, message13],
    },
    14: {
      params: fc.record({ userid: user, data, ...auth }),
      serviceUri: '/exchange',
      servedWith: [message14, message15],
    },
    15: {
      params: fc.record({ deviceid: device, data, ...auth }),
      serviceUri: '/exchange',
      servedWith: [message14, message15],
    },
  };

const BASE = 'https://ms1.as1.irsp.test:8443';

describe.each(MESSAGES)('Message $number ($name)', (def) => {
  const message: Operation = def;
  const c = CASES[def.number]!;
  const reserved = Object.keys(message.schema.shape);
  const extraArb = message.extras ? extras(reserved) : fc.constant({});
  const servedWith = c.servedWith.length > 0 ? c.servedWith : [message];

  it('parseForm(buildForm(p, extra)) gives back p and extra', () => {
    fc.assert(
      fc.property(c.params, extraArb, (params, extra) => {
        const form = buildForm(message, params, extra);
        expect(parseForm(message, form)).toEqual({ ok: true, operation: message, params, extra });
        expect(parseAnyForm(servedWith, form)).toEqual({ ok: true, operation: message, params, extra });
      }),
    );
  });

  it('the query of buildUrl parses back, on the right path, with nothing in a fragment', () => {
    fc.assert(
      fc.property(c.params, extraArb, (params, extra) => {
        const url = new URL(buildUrl(message, BASE, params, extra, c.serviceUri));
        expect(url.origin).toBe(BASE);
        expect(url.pathname).toBe(def.path ?? c.serviceUri);
        expect(url.hash).toBe('');
        const query = url.search.slice(1);
        expect(parseForm(message, query)).toEqual({ ok: true, operation: message, params, extra });
        expect(parseAnyForm(servedWith, query)).toEqual({ ok: true, operation: message, params, extra });
      }),
    );
  });

  it('the encoded form contains no raw #, +, space or non-ASCII, and & only between parameters', () => {
    fc.assert(
      fc.property(c.params, extraArb, (params, extra) => {
        const form = buildForm(message, params, extra);
        expect(form).toMatch(/^[A-Za-z0-9%._~!'()*=&-]*$/);
        const count = Object.keys(params).length + Object.keys(extra).length;
        expect(form.split('&')).toHaveLength(count);
      }),
    );
  });
});

describe('Messages 2 and 4 carry extras whose names are Object.prototype properties', () => {
  it.each([MESSAGES[1], MESSAGES[3]])('Message $number', (message) => {
    const params = { version: '1' as const, appid: 'as', token: 't', name: '#lock', password: 'pw' };
    const extra = { constructor: 'c', toString: 's', valueOf: 'v', hasOwnProperty: 'h', color: 'red' };
    const form = buildForm(message, params, extra);
    expect(form).toBe(
      'version=1&appid=as&token=t&name=%23lock&password=pw&constructor=c&toString=s&valueOf=v&hasOwnProperty=h&color=red',
    );
    expect(parseForm(message, form)).toEqual({ ok: true, operation: message, params, extra });
  });
});

describe('canonical local parts', () => {
  it('canonicalLocalPart is idempotent (the canonical form of a canonical form is itself)', () => {
    fc.assert(
      fc.property(fc.oneof(rawLocalPart, fc.string({ unit: 'binary', maxLength: 12 })), (raw) => {
        const once = canonicalLocalPart(raw);
        expect(canonicalLocalPart(once)).toBe(once);
      }),
    );
  });

  // Found by exhaustive search: upper case + combining mark whose lower case composes (e.g. T + U+0308 → ẗ).
  it.each([
    ['T\u0308', '\u1e97'],
    ['t\u0308', '\u1e97'],
    ['\u1e97', '\u1e97'],
    ['\u0386\u0345', '\u1fb4'],
    ['\u038f\u0345', '\u1ff4'],
    ['\u03aa\u0301', '\u0390'],
    ['\u1fbc\u0301', '\u1fb4'],
  ])('%j canonicalises to %j, and so does its canonical form', (raw, canonical) => {
    expect(canonicalLocalPart(raw)).toBe(canonical);
    expect(canonicalLocalPart(canonical)).toBe(canonical);
  });
});

describe('client account API', () => {
  const userId = fc.tuple(user, domain);
  const deviceId = fc.tuple(device, domain);
  const full = ([local, d]: [string, string]) => `${local}@${d}`;
  const userIdWith = (local: string, d: string) => ({ kind: 'user', local, domain: d });
  const deviceIdWith = (local: string, d: string) => ({ kind: 'device', local, domain: d });
  const deviceInfo = { verifycode, type: info, vendor: info, model: info };

  const CLIENT_CASES = [
    {
      op: clientUserRegister,
      arb: fc.record({ id: userId, rest: fc.record({ password }) }),
      key: 'userid',
      kind: userIdWith,
    },
    {
      op: clientDeviceRegister,
      arb: fc.record({
        id: deviceId,
        rest: fc.record({ password, ...deviceInfo }, { requiredKeys: ['password'] }),
      }),
      key: 'deviceid',
      kind: deviceIdWith,
    },
    {
      op: clientUserModify,
      arb: fc.record({ id: userId, rest: fc.record({ password, newpassword: password }) }),
      key: 'userid',
      kind: userIdWith,
    },
    {
      op: clientDeviceModify,
      arb: fc.record({
        id: deviceId,
        rest: fc.record({ password, newpassword: password, ...deviceInfo }, { requiredKeys: ['password'] }),
      }),
      key: 'deviceid',
      kind: deviceIdWith,
    },
    {
      op: clientUserRemove,
      arb: fc.record({ id: userId, rest: fc.record({ password }) }),
      key: 'userid',
      kind: userIdWith,
    },
    {
      op: clientDeviceRemove,
      arb: fc.record({ id: deviceId, rest: fc.record({ password }) }),
      key: 'deviceid',
      kind: deviceIdWith,
    },
  ] as const;

  it('covers every client operation', () => {
    expect(CLIENT_CASES.map((c) => c.op)).toEqual([...CLIENT_OPERATIONS]);
  });

  it.each(CLIENT_CASES)('$op.name: the ID parses into {kind, local, domain}, the rest unchanged', (c) => {
    const op = c.op as Operation;
    const extraArb = op.extras ? extras(Object.keys(op.schema.shape)) : fc.constant({});
    fc.assert(
      fc.property(c.arb, extraArb, ({ id, rest }, extra) => {
        const form = buildForm(op, { [c.key]: full(id), ...rest }, extra);
        expect(parseForm(op, form)).toEqual({
          ok: true,
          operation: op,
          params: { [c.key]: c.kind(id[0], id[1]), ...rest },
          extra,
        });
      }),
    );
  });

  it('canonicalises the local part and domain of a client ID', () => {
    const result = parseForm(clientUserRegister, 'userid=Alice%40AS1.IRSP.Test&password=pw');
    expect(result).toEqual({
      ok: true,
      operation: clientUserRegister,
      params: { userid: { kind: 'user', local: 'alice', domain: 'as1.irsp.test' }, password: 'pw' },
      extra: {},
    });
  });
});
