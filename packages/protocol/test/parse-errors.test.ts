/** Every bad request to Messages 1–15 and the client account API is the table's 400, with the reason. */
import { describe, expect, it } from 'vitest';
import {
  MAX_DATA_LENGTH,
  MAX_EXTRA_PARAMETERS,
  MESSAGES,
  clientDeviceModify,
  clientDeviceRegister,
  clientUserModify,
  clientUserRegister,
  encodeForm,
  message10,
  message11,
  message12,
  message13,
  message14,
  message15,
  parseAnyForm,
  parseForm,
  type MessageDef,
} from '../src/index.js';

type Fields = Record<string, string>;

/** A valid request of each message; the tests below break one thing at a time. */
const VALID: Record<number, Fields> = {
  1: { version: '1', appid: 'as', token: 'tok', name: 'alice', password: 'pw' },
  2: { version: '1', appid: 'as', token: 'tok', name: '#lock', password: 'pw' },
  3: { version: '1', appid: 'as', token: 'tok', name: 'alice', password: 'pw' },
  4: { version: '1', appid: 'as', token: 'tok', name: '#lock', password: 'pw' },
  5: { version: '1', appid: 'as', token: 'tok', name: 'alice' },
  6: { version: '1', appid: 'as', token: 'tok', name: '#lock' },
  7: { deviceid: '#lock', verifycode: '1234', appid: 'ms', token: 'tok' },
  8: { userid: 'alice', data: 'hello', appid: 'ms', token: 'tok' },
  9: { deviceid: '#lock', data: 'hello', appid: 'ms', token: 'tok' },
  10: { deviceid: '#lock', type: 'online', appid: 'ms', token: 'tok' },
  11: { deviceid: '#lock', type: 'offline', appid: 'ms', token: 'tok' },
  12: { userid: 'alice', data: 'hello', appid: 'app', token: 'tok' },
  13: { deviceid: '#lock', data: 'hello', appid: 'app', token: 'tok' },
  14: { userid: 'alice', data: 'hello', appid: 'app', token: 'tok' },
  15: { deviceid: '#lock', data: 'hello', appid: 'app', token: 'tok' },
};

/** The ID parameter of each message and its kind, from the clause 8 text. */
const ID_PARAM: Record<number, [string, 'user' | 'device']> = {
  1: ['name', 'user'],
  2: ['name', 'device'],
  3: ['name', 'user'],
  4: ['name', 'device'],
  5: ['name', 'user'],
  6: ['name', 'device'],
  7: ['deviceid', 'device'],
  8: ['userid', 'user'],
  9: ['deviceid', 'device'],
  10: ['deviceid', 'device'],
  11: ['deviceid', 'device'],
  12: ['userid', 'user'],
  13: ['deviceid', 'device'],
  14: ['userid', 'user'],
  15: ['deviceid', 'device'],
};

const MANDATORY: Record<number, string[]> = {
  1: ['version', 'appid', 'token', 'name', 'password'],
  2: ['version', 'appid', 'token', 'name', 'password'],
  3: ['version', 'appid', 'token', 'name', 'password'],
  4: ['version', 'appid', 'token', 'name', 'password'],
  5: ['version', 'appid', 'token', 'name'],
  6: ['version', 'appid', 'token', 'name'],
  7: ['deviceid', 'verifycode', 'appid', 'token'],
  8: ['userid', 'data', 'appid', 'token'],
  9: ['deviceid', 'data', 'appid', 'token'],
  10: ['deviceid', 'type', 'appid', 'token'],
  11: ['deviceid', 'type', 'appid', 'token'],
  12: ['userid', 'data', 'appid', 'token'],
  13: ['deviceid', 'data', 'appid', 'token'],
  14: ['userid', 'data', 'appid', 'token'],
  15: ['deviceid', 'data', 'appid', 'token'],
};

function parse(message: MessageDef, fields: Fields) {
  return parseForm(message, encodeForm(Object.entries(fields)));
}

function bad(reason: string) {
  return { ok: false, status: 400, reason };
}

const MESSAGE_CASES = MESSAGES.map((message) => ({ number: message.number, message }));

describe.each(MESSAGE_CASES)('Message $number', ({ number, message }) => {
  const valid = VALID[number]!;
  const [idParam, kind] = ID_PARAM[number]!;

  it('accepts the valid request', () => {
    expect(parse(message, valid)).toEqual({ ok: true, operation: message, params: valid, extra: {} });
  });

  it.each(MANDATORY[number]!)('400 without %s', (param) => {
    const rest = { ...valid };
    delete rest[param];
    const literal = param === 'version' ? '1' : param === 'type' ? valid.type : undefined;
    expect(parse(message, rest)).toEqual(
      bad(`${param}: Invalid input: expected ${literal ? `"${literal}"` : 'string, received undefined'}`),
    );
  });

  it('400 for an empty form', () => {
    expect(parseForm(message, '')).toMatchObject({ ok: false, status: 400 });
  });

  if (number <= 6) {
    it.each(['2', '01', '1.0', '', ' 1', 'v1'])('400 for version=%j', (version) => {
      expect(parse(message, { ...valid, version })).toEqual(bad('version: Invalid input: expected "1"'));
    });
  }

  if (kind === 'device') {
    it('400 for a device local part without #', () => {
      expect(parse(message, { ...valid, [idParam]: 'lock' })).toEqual(
        bad(`${idParam}: device local part must start with #`),
      );
    });
    it('400 for a device local part that is only #', () => {
      expect(parse(message, { ...valid, [idParam]: '#' })).toEqual(
        bad(`${idParam}: device local part has nothing after #`),
      );
    });
  } else {
    it('400 for a user local part starting with #', () => {
      expect(parse(message, { ...valid, [idParam]: '#alice' })).toEqual(
        bad(`${idParam}: user local part must not start with #`),
      );
    });
  }

  const prefix = kind === 'device' ? '#' : '';

  it('400 for an empty local part', () => {
    expect(parse(message, { ...valid, [idParam]: '' })).toEqual(bad(`${idParam}: empty local part`));
  });

  it.each([
    '"',
    '&',
    "'",
    '/',
    ':',
    '<',
    '>',
    '@',
    ' ',
    '\t',
    '\n',
    '\u00a0',
    '\u2028',
    '\u200b',
    '\u0000',
    '\u007f',
  ])('400 for a local part with %j', (char) => {
    expect(parse(message, { ...valid, [idParam]: `${prefix}a${char}b` })).toEqual(
      bad(`${idParam}: forbidden character in local part`),
    );
  });

  it('accepts a local part of 1023 octets and refuses 1024, counting UTF-8 octets of the canonical form', () => {
    const ok = (local: string) =>
      expect(parse(message, { ...valid, [idParam]: local })).toMatchObject({ ok: true });
    const tooLong = (local: string) =>
      expect(parse(message, { ...valid, [idParam]: local })).toEqual(
        bad(`${idParam}: local part longer than 1023 octets`),
      );
    ok(prefix + 'a'.repeat(1023 - prefix.length));
    tooLong(prefix + 'a'.repeat(1024 - prefix.length));
    // é is 2 octets: 511 of them (+ '#' or 'x') is 1023 octets, 512 is 1024.
    ok(`${prefix || 'x'}${'é'.repeat(511)}`);
    tooLong(`${prefix}${'é'.repeat(512)}`);
    // Decomposed e + U+0301 is 3 octets but NFC makes it é (2): 400 of them are 800 octets.
    ok(prefix + 'e\u0301'.repeat(400));
  });

  it('canonicalises the local part to lower-case NFC', () => {
    const result = parse(message, { ...valid, [idParam]: `${prefix}Alice-E\u0301` });
    expect(result).toMatchObject({ ok: true, params: { [idParam]: `${prefix}alice-é` } });
  });

  it('400 for bad appid and token', () => {
    expect(parse(message, { ...valid, appid: '' })).toEqual(
      bad('appid: appid must be 1–128 of A-Z a-z 0-9 . _ ~ -'),
    );
    expect(parse(message, { ...valid, appid: 'a b' })).toEqual(
      bad('appid: appid must be 1–128 of A-Z a-z 0-9 . _ ~ -'),
    );
    expect(parse(message, { ...valid, appid: 'a'.repeat(129) })).toEqual(
      bad('appid: appid must be 1–128 of A-Z a-z 0-9 . _ ~ -'),
    );
    expect(parse(message, { ...valid, appid: 'a'.repeat(128) })).toMatchObject({ ok: true });
    expect(parse(message, { ...valid, token: 't\u0000' })).toEqual(
      bad('token: token has a control character'),
    );
    expect(parse(message, { ...valid, token: '' })).toEqual(
      bad('token: Too small: expected string to have >=1 characters'),
    );
    expect(parse(message, { ...valid, token: 't'.repeat(513) })).toEqual(
      bad('token: Too big: expected string to have <=512 characters'),
    );
    expect(parse(message, { ...valid, token: 't'.repeat(512) })).toMatchObject({ ok: true });
  });

  it('400 for malformed percent-encoding and a repeated parameter', () => {
    const form = encodeForm(Object.entries(valid));
    expect(parseForm(message, `${form}&x=%zz`)).toEqual(bad('malformed percent-encoding'));
    expect(parseForm(message, `${form}&appid=other`)).toEqual(bad('parameter appid repeated'));
  });
});

describe('password and verification code', () => {
  it.each([MESSAGES[0], MESSAGES[1], MESSAGES[2], MESSAGES[3]])(
    'Message $number: password limits',
    (message) => {
      const valid = VALID[message.number]!;
      expect(parse(message, { ...valid, password: 'p'.repeat(1024) })).toMatchObject({ ok: true });
      expect(parse(message, { ...valid, password: 'p'.repeat(1025) })).toEqual(
        bad('password: Too big: expected string to have <=1024 characters'),
      );
      expect(parse(message, { ...valid, password: '' })).toEqual(
        bad('password: Too small: expected string to have >=1 characters'),
      );
      expect(parse(message, { ...valid, password: 'a\nb' })).toEqual(
        bad('password: password has a control character'),
      );
    },
  );

  it('Message 7 accepts an empty verification code ("new device verification code or empty")', () => {
    expect(parse(MESSAGES[6], { ...VALID[7]!, verifycode: '' })).toMatchObject({
      ok: true,
      params: { verifycode: '' },
    });
    expect(parse(MESSAGES[6], { ...VALID[7]!, verifycode: 'v'.repeat(257) })).toEqual(
      bad('verifycode: Too big: expected string to have <=256 characters'),
    );
    expect(parse(MESSAGES[6], { ...VALID[7]!, verifycode: '12\r34' })).toEqual(
      bad('verifycode: verifycode has a control character'),
    );
  });

  it.each([MESSAGES[1], MESSAGES[3]])('Message $number: device info limits', (message) => {
    const valid = VALID[message.number]!;
    for (const param of ['type', 'vendor', 'model']) {
      expect(parse(message, { ...valid, [param]: 'x'.repeat(256) })).toMatchObject({ ok: true });
      expect(parse(message, { ...valid, [param]: 'x'.repeat(257) })).toEqual(
        bad(`${param}: Too big: expected string to have <=256 characters`),
      );
      expect(parse(message, { ...valid, [param]: '' })).toEqual(
        bad(`${param}: Too small: expected string to have >=1 characters`),
      );
      expect(parse(message, { ...valid, [param]: 'a\u0007' })).toEqual(bad(`${param}: control character`));
    }
  });
});

describe('data of Messages 8, 9, 12–15', () => {
  it.each([8, 9, 12, 13, 14, 15])('Message %i: 1 to 65536 characters', (number) => {
    const message = MESSAGES[number - 1]!;
    const valid = VALID[number]!;
    expect(MAX_DATA_LENGTH).toBe(65_536);
    expect(parse(message, { ...valid, data: 'd'.repeat(65_536) })).toMatchObject({ ok: true });
    expect(parse(message, { ...valid, data: 'd'.repeat(65_537) })).toEqual(
      bad('data: Too big: expected string to have <=65536 characters'),
    );
    expect(parse(message, { ...valid, data: '' })).toEqual(
      bad('data: Too small: expected string to have >=1 characters'),
    );
    // Control characters are data, not an error.
    expect(parse(message, { ...valid, data: 'a\u0000\n\tb' })).toMatchObject({
      ok: true,
      params: { data: 'a\u0000\n\tb' },
    });
  });
});

describe('Messages 10 and 11: type', () => {
  it('parseForm refuses the other type, parseAnyForm chooses by it', () => {
    expect(parse(message10, VALID[11]!)).toEqual(bad('type: Invalid input: expected "online"'));
    expect(parse(message11, VALID[10]!)).toEqual(bad('type: Invalid input: expected "offline"'));
    expect(parseAnyForm([message10, message11], encodeForm(Object.entries(VALID[10]!)))).toMatchObject({
      ok: true,
      operation: message10,
    });
    expect(parseAnyForm([message10, message11], encodeForm(Object.entries(VALID[11]!)))).toMatchObject({
      ok: true,
      operation: message11,
    });
  });

  it.each(['bogus', 'Online', '', 'online '])('parseAnyForm: 400 for type=%j', (type) => {
    const form = encodeForm(Object.entries({ ...VALID[10]!, type }));
    expect(parseAnyForm([message10, message11], form)).toEqual(bad('exactly one of type expected'));
  });

  it('parseAnyForm: 400 without type', () => {
    expect(parseAnyForm([message10, message11], 'deviceid=%23lock&appid=ms&token=tok')).toEqual(
      bad('exactly one of type expected'),
    );
  });
});

describe.each([
  { pair: [message12, message13] as const, n: '12/13' },
  { pair: [message14, message15] as const, n: '14/15' },
])('Messages $n on one service URI', ({ pair }) => {
  it('400 with both userid and deviceid', () => {
    const form = 'userid=alice&deviceid=%23lock&data=x&appid=app&token=tok';
    expect(parseAnyForm(pair, form)).toEqual(bad('exactly one of userid, deviceid expected'));
  });

  it('400 with neither', () => {
    expect(parseAnyForm(pair, 'data=x&appid=app&token=tok')).toEqual(
      bad('exactly one of userid, deviceid expected'),
    );
  });

  it('chooses by the ID parameter', () => {
    expect(parseAnyForm(pair, 'userid=Alice&data=x&appid=app&token=tok')).toEqual({
      ok: true,
      operation: pair[0],
      params: { userid: 'alice', data: 'x', appid: 'app', token: 'tok' },
      extra: {},
    });
    expect(parseAnyForm(pair, 'deviceid=%23Lock&data=x&appid=app&token=tok')).toEqual({
      ok: true,
      operation: pair[1],
      params: { deviceid: '#lock', data: 'x', appid: 'app', token: 'tok' },
      extra: {},
    });
  });

  it('400 for malformed percent-encoding', () => {
    expect(parseAnyForm(pair, 'userid=%E0%A4&data=x&appid=app&token=tok')).toEqual(
      bad('malformed percent-encoding'),
    );
  });
});

describe('additional parameters of Messages 2 and 4', () => {
  const messages = [MESSAGES[1], MESSAGES[3]];

  it.each(messages)('Message $number: carries up to 32, refuses 33', (message) => {
    const valid = VALID[message.number]!;
    const extras = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x${i}`, `v${i}`]));
    expect(MAX_EXTRA_PARAMETERS).toBe(32);
    expect(parse(message, { ...valid, ...extras(32) })).toEqual({
      ok: true,
      operation: message,
      params: valid,
      extra: extras(32),
    });
    expect(parse(message, { ...valid, ...extras(33) })).toEqual(bad('too many additional parameters'));
  });

  it.each(messages)('Message $number: refuses bad names', (message) => {
    for (const name of ['1abc', '_x', '-x', 'a b', 'a'.repeat(65), 'é', 'a/b', 'a[]']) {
      expect(parse(message, { ...VALID[message.number]!, [name]: 'v' })).toEqual(
        bad(`bad parameter name ${name}`),
      );
    }
    expect(parse(message, { ...VALID[message.number]!, ['a'.repeat(64)]: 'v' })).toMatchObject({ ok: true });
  });

  it.each(messages)('Message $number: refuses bad values', (message) => {
    const valid = VALID[message.number]!;
    expect(parse(message, { ...valid, color: 'x'.repeat(1025) })).toEqual(bad('bad color'));
    expect(parse(message, { ...valid, color: 'a\u001bb' })).toEqual(bad('bad color'));
    expect(parse(message, { ...valid, color: 'x'.repeat(1024) })).toMatchObject({ ok: true });
    expect(parse(message, { ...valid, color: '' })).toMatchObject({ ok: true, extra: { color: '' } });
  });

  it('other messages ignore unknown parameters instead of carrying them', () => {
    expect(parse(MESSAGES[0], { ...VALID[1]!, color: 'red', '1bad': '\u0000' })).toEqual({
      ok: true,
      operation: MESSAGES[0],
      params: VALID[1],
      extra: {},
    });
  });
});

describe('too many parameters', () => {
  it('refuses more than 64 parameters before looking at them', () => {
    const fields = Object.entries(VALID[1]!);
    for (let i = fields.length; i < 64; i++) fields.push([`x${i}`, 'v']);
    expect(parse(MESSAGES[0], Object.fromEntries(fields))).toMatchObject({ ok: true });
    fields.push(['x64', 'v']);
    expect(parse(MESSAGES[0], Object.fromEntries(fields))).toEqual(bad('too many parameters'));
    expect(parseAnyForm([message12, message13], encodeForm(fields))).toEqual(bad('too many parameters'));
  });
});

describe('client account API', () => {
  it('400 for a user ID without a domain, an invalid domain, or a device ID as user ID', () => {
    expect(parseForm(clientUserRegister, 'userid=alice&password=pw')).toEqual(
      bad('userid: ID must be local part @ domain'),
    );
    expect(parseForm(clientUserRegister, 'userid=alice%40&password=pw')).toEqual(
      bad('userid: invalid domain name'),
    );
    expect(parseForm(clientUserRegister, 'userid=%23alice%40as1.irsp.test&password=pw')).toEqual(
      bad('userid: user local part must not start with #'),
    );
  });

  it('400 for a device ID without #', () => {
    expect(parseForm(clientDeviceRegister, 'deviceid=lock%40as1.irsp.test&password=pw')).toEqual(
      bad('deviceid: device local part must start with #'),
    );
  });

  it('newpassword is mandatory for a user and optional for a device', () => {
    expect(parseForm(clientUserModify, 'userid=alice%40as1.irsp.test&password=pw')).toEqual(
      bad('newpassword: Invalid input: expected string, received undefined'),
    );
    expect(parseForm(clientDeviceModify, 'deviceid=%23lock%40as1.irsp.test&password=pw&model=M2')).toEqual({
      ok: true,
      operation: clientDeviceModify,
      params: {
        deviceid: { kind: 'device', local: '#lock', domain: 'as1.irsp.test' },
        password: 'pw',
        model: 'M2',
      },
      extra: {},
    });
  });

  it('400 without password', () => {
    expect(parseForm(clientUserRegister, 'userid=alice%40as1.irsp.test')).toEqual(
      bad('password: Invalid input: expected string, received undefined'),
    );
  });
});

describe('Messages 8–15 do not take the ID parameter of another kind', () => {
  it.each([message12, message14])('Message $number: deviceid alone is not a user message', (message) => {
    expect(parseForm(message, 'deviceid=%23lock&data=x&appid=app&token=tok')).toEqual(
      bad('userid: Invalid input: expected string, received undefined'),
    );
  });
  it.each([message13, message15])('Message $number: userid alone is not a device message', (message) => {
    expect(parseForm(message, 'userid=alice&data=x&appid=app&token=tok')).toEqual(
      bad('deviceid: Invalid input: expected string, received undefined'),
    );
  });
});
