/** Messages 1–15 as printed in ISO/IEC 14543-5-9 clause 8, and the client account API beside them. */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  message5,
  CLIENT_OPERATIONS,
  MESSAGES,
  buildForm,
  buildUrl,
  clientDeviceModify,
  clientDeviceRegister,
  clientDeviceRemove,
  clientUserModify,
  clientUserRegister,
  clientUserRemove,
  message1,
  message8,
  operationFields,
} from '../src/index.js';

const ACCOUNT_SERVER_AUTH = ['version', 'appid', 'token'];
const DEVICE_INFO = ['verifycode', 'type', 'vendor', 'model'];

/** Expected, written from the standard's text (not from the code). */
const EXPECTED = [
  {
    number: 1,
    clause: '8.2.1',
    path: '/user/register.xml',
    from: 'accountServer',
    to: 'messageServer',
    table: 'table1',
    params: [...ACCOUNT_SERVER_AUTH, 'name', 'password'],
    optional: [],
    added: [],
    extras: false,
  },
  {
    number: 2,
    clause: '8.2.1',
    path: '/device/register',
    from: 'accountServer',
    to: 'messageServer',
    table: 'table1',
    params: [...ACCOUNT_SERVER_AUTH, 'name', 'password', ...DEVICE_INFO],
    optional: DEVICE_INFO,
    added: [],
    extras: true,
  },
  {
    number: 3,
    clause: '8.2.2',
    path: '/user/modify',
    from: 'accountServer',
    to: 'messageServer',
    table: 'table2',
    params: [...ACCOUNT_SERVER_AUTH, 'name', 'password'],
    optional: [],
    added: [],
    extras: false,
  },
  {
    number: 4,
    clause: '8.2.2',
    path: '/device/modify',
    from: 'accountServer',
    to: 'messageServer',
    table: 'table2',
    params: [...ACCOUNT_SERVER_AUTH, 'name', 'password', ...DEVICE_INFO],
    optional: DEVICE_INFO,
    added: [],
    extras: true,
  },
  {
    number: 5,
    clause: '8.2.3',
    path: '/user/remove',
    from: 'accountServer',
    to: 'messageServer',
    table: 'table3',
    params: [...ACCOUNT_SERVER_AUTH, 'name'],
    optional: [],
    added: [],
    extras: false,
  },
  {
    number: 6,
    clause: '8.2.3',
    path: '/device/remove',
    from: 'accountServer',
    to: 'messageServer',
    table: 'table3',
    params: [...ACCOUNT_SERVER_AUTH, 'name'],
    optional: [],
    added: [],
    extras: false,
  },
  {
    number: 7,
    clause: '8.2.4',
    path: '/modifyVerifyCode.xml',
    from: 'messageServer',
    to: 'accountServer',
    table: 'table4',
    params: ['deviceid', 'verifycode', 'appid', 'token'],
    optional: [],
    added: ['appid', 'token'],
    extras: false,
  },
  {
    number: 8,
    clause: '8.3.1',
    serviceUri: 'userUpload',
    discriminator: { param: 'userid' },
    from: 'messageServer',
    to: 'applicationServer',
    table: 'table5',
    params: ['userid', 'data', 'appid', 'token'],
  },
  {
    number: 9,
    clause: '8.3.1',
    serviceUri: 'deviceUpload',
    discriminator: { param: 'deviceid' },
    from: 'messageServer',
    to: 'applicationServer',
    table: 'table5',
    params: ['deviceid', 'data', 'appid', 'token'],
  },
  {
    number: 10,
    clause: '8.3.2',
    serviceUri: 'deviceStatus',
    discriminator: { param: 'type', value: 'online' },
    from: 'messageServer',
    to: 'applicationServer',
    table: 'table5',
    params: ['deviceid', 'type', 'appid', 'token'],
  },
  {
    number: 11,
    clause: '8.3.2',
    serviceUri: 'deviceStatus',
    discriminator: { param: 'type', value: 'offline' },
    from: 'messageServer',
    to: 'applicationServer',
    table: 'table5',
    params: ['deviceid', 'type', 'appid', 'token'],
  },
  {
    number: 12,
    clause: '8.3.3',
    serviceUri: 'push',
    discriminator: { param: 'userid' },
    from: 'applicationServer',
    to: 'messageServer',
    table: 'table6',
    params: ['userid', 'data', 'appid', 'token'],
  },
  {
    number: 13,
    clause: '8.3.3',
    serviceUri: 'push',
    discriminator: { param: 'deviceid' },
    from: 'applicationServer',
    to: 'messageServer',
    table: 'table6',
    params: ['deviceid', 'data', 'appid', 'token'],
  },
  {
    number: 14,
    clause: '8.4.1',
    serviceUri: 'exchange',
    discriminator: { param: 'userid' },
    from: 'applicationServer',
    to: 'applicationServer',
    table: 'table7',
    params: ['userid', 'data', 'appid', 'token', 'thirdparty'],
    optional: ['thirdparty'],
    added: ['appid', 'token', 'thirdparty'],
  },
  {
    number: 15,
    clause: '8.4.1',
    serviceUri: 'exchange',
    discriminator: { param: 'deviceid' },
    from: 'applicationServer',
    to: 'applicationServer',
    table: 'table7',
    params: ['deviceid', 'data', 'appid', 'token', 'thirdparty'],
    optional: ['thirdparty'],
    added: ['appid', 'token', 'thirdparty'],
  },
] as const;

describe('MESSAGES', () => {
  it('lists Messages 1–15 in order, each frozen', () => {
    expect(MESSAGES.map((m) => m.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    for (const m of MESSAGES) expect(Object.isFrozen(m)).toBe(true);
  });

  it('has unique names', () => {
    expect(new Set(MESSAGES.map((m) => m.name)).size).toBe(15);
  });

  describe.each(EXPECTED)('Message $number', (expected) => {
    const m = MESSAGES[expected.number - 1]!;

    it(`is clause ${expected.clause}, ${expected.from} → ${expected.to}, answered with ${expected.table}`, () => {
      expect(m.number).toBe(expected.number);
      expect(m.clause).toBe(expected.clause);
      expect(m.from).toBe(expected.from);
      expect(m.to).toBe(expected.to);
      expect(m.table).toBe(expected.table);
    });

    it('has the path printed in the standard, or a configured service URI', () => {
      if ('path' in expected) {
        expect(m.path).toBe(expected.path);
        expect(m.serviceUri).toBeUndefined();
        expect(m.discriminator).toBeUndefined();
      } else {
        expect(m.path).toBeUndefined();
        expect(m.serviceUri).toBe(expected.serviceUri);
        expect(m.discriminator).toEqual(expected.discriminator);
      }
    });

    it('has exactly the printed parameters, in printed order', () => {
      expect(Object.keys(m.schema.shape)).toEqual(expected.params);
    });

    it('marks exactly the parameters the clause calls optional as optional', () => {
      const shape: Record<string, z.ZodType> = m.schema.shape;
      const optional = expected.params.filter((name) => shape[name]!.safeParse(undefined).success);
      expect(optional).toEqual('optional' in expected ? expected.optional : []);
    });

    it('records appid/token as our addition only where the standard does not print them', () => {
      expect(m.added).toEqual('added' in expected ? expected.added : ['appid', 'token']);
    });

    it('carries additional registration parameters only on Messages 2 and 4', () => {
      expect(m.extras).toBe('extras' in expected ? expected.extras : false);
    });
  });
});

describe('buildUrl', () => {
  it('keeps the path of a base URL behind a prefix (a reverse proxy)', () => {
    const params = { version: '1', appid: 'as', token: 't', name: 'alice' } as const;
    expect(buildUrl(message5, 'https://proxy.example/irsp/as1/', params)).toBe(
      'https://proxy.example/irsp/as1/user/remove?version=1&appid=as&token=t&name=alice',
    );
    expect(buildUrl(message5, 'https://proxy.example/irsp/as1', params)).toBe(
      'https://proxy.example/irsp/as1/user/remove?version=1&appid=as&token=t&name=alice',
    );
  });

  it('builds Message 1 exactly as printed, with the parameters in printed order', () => {
    expect(
      buildUrl(message1, 'https://ms1.as1.irsp.test:8443', {
        version: '1',
        appid: 'as',
        token: 'secret',
        name: 'alice',
        password: 'pw',
      }),
    ).toBe(
      'https://ms1.as1.irsp.test:8443/user/register.xml?version=1&appid=as&token=secret&name=alice&password=pw',
    );
  });

  it('uses the configured service URI for Messages 8–15 and refuses to build without one', () => {
    const params = { userid: 'alice', data: 'x', appid: 'ms', token: 't' };
    expect(buildUrl(message8, 'https://app.as1.irsp.test', params, undefined, '/user/upload')).toBe(
      'https://app.as1.irsp.test/user/upload?userid=alice&data=x&appid=ms&token=t',
    );
    expect(() => buildUrl(message8, 'https://app.as1.irsp.test', params)).toThrow(
      new Error('userUpload needs a configured service URI'),
    );
  });

  it('drops extras on a message that does not carry them, and never lets an extra replace a parameter', () => {
    const params = { version: '1' as const, appid: 'as', token: 't', name: 'alice', password: 'pw' };
    expect(buildForm(message1, params, { color: 'red' })).toBe(
      'version=1&appid=as&token=t&name=alice&password=pw',
    );
    expect(
      operationFields(
        MESSAGES[1],
        { ...params, name: '#lock' },
        { name: '#other', password: 'x', color: 'red' },
      ),
    ).toEqual([
      ['version', '1'],
      ['appid', 'as'],
      ['token', 't'],
      ['name', '#lock'],
      ['password', 'pw'],
      ['color', 'red'],
    ]);
  });

  it('omits optional parameters that are absent and keeps the printed order for those present', () => {
    expect(
      buildForm(MESSAGES[3], {
        model: 'M1',
        version: '1' as const,
        appid: 'as',
        token: 't',
        name: '#lock',
        password: 'pw',
        verifycode: '',
      }),
    ).toBe('version=1&appid=as&token=t&name=%23lock&password=pw&verifycode=&model=M1');
  });
});

describe('client account API', () => {
  const EXPECTED_CLIENT = [
    {
      op: clientUserRegister,
      name: 'clientUserRegister',
      path: '/user/register.xml',
      table: 'table1',
      extras: false,
      params: ['userid', 'password'],
      optional: [],
    },
    {
      op: clientDeviceRegister,
      name: 'clientDeviceRegister',
      path: '/device/register',
      table: 'table1',
      extras: true,
      params: ['deviceid', 'password', ...DEVICE_INFO],
      optional: DEVICE_INFO,
    },
    {
      op: clientUserModify,
      name: 'clientUserModify',
      path: '/user/modify',
      table: 'table2',
      extras: false,
      params: ['userid', 'password', 'newpassword'],
      optional: [],
    },
    {
      op: clientDeviceModify,
      name: 'clientDeviceModify',
      path: '/device/modify',
      table: 'table2',
      extras: true,
      params: ['deviceid', 'password', 'newpassword', ...DEVICE_INFO],
      optional: ['newpassword', ...DEVICE_INFO],
    },
    {
      op: clientUserRemove,
      name: 'clientUserRemove',
      path: '/user/remove',
      table: 'table3',
      extras: false,
      params: ['userid', 'password'],
      optional: [],
    },
    {
      op: clientDeviceRemove,
      name: 'clientDeviceRemove',
      path: '/device/remove',
      table: 'table3',
      extras: false,
      params: ['deviceid', 'password'],
      optional: [],
    },
  ] as const;

  it('lists the six operations in order, each frozen', () => {
    expect(CLIENT_OPERATIONS).toEqual(EXPECTED_CLIENT.map(({ op }) => op));
    for (const op of CLIENT_OPERATIONS) expect(Object.isFrozen(op)).toBe(true);
  });

  it.each(EXPECTED_CLIENT)('$name on $path', ({ op, name, path, table, extras, params, optional }) => {
    expect(op.name).toBe(name);
    expect(op.path).toBe(path);
    expect(op.table).toBe(table);
    expect(op.extras).toBe(extras);
    expect(op.discriminator).toBeUndefined();
    expect(Object.keys(op.schema.shape)).toEqual(params);
    const shape = op.schema.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>;
    expect(params.filter((p) => shape[p]!.safeParse(undefined).success)).toEqual(optional);
  });
});
