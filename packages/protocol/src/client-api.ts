/**
 * The client account API of the account server (our design: 14543-5-8 clause 7, registration, is not in the
 * text we have). Users and devices call it over HTTPS with POST form bodies, on the same paths as
 * Messages 1–6; it answers with the codes and bodies of Tables 1–3 plus 401 for a wrong password and 429 (with
 * Retry-After) when the guessing throttle refuses a password check.
 * IDs are full (`local@domain`, `#local@domain`): the domain chooses the AS.
 */
import { z } from 'zod';
import { accountIdSchema } from './ids.js';
import type { Operation } from './operation.js';
import { deviceInfoSchema, passwordSchema, verifyCodeSchema } from './params.js';

function operation<S extends z.ZodObject>(def: Operation<S>): Operation<S> {
  return Object.freeze(def);
}

const deviceInfo = {
  verifycode: verifyCodeSchema.optional(),
  type: deviceInfoSchema.optional(),
  vendor: deviceInfoSchema.optional(),
  model: deviceInfoSchema.optional(),
};

export const clientUserRegister = operation({
  name: 'clientUserRegister',
  title: 'A user registers at the account server',
  path: '/user/register.xml',
  table: 'table1',
  extras: false,
  schema: z.object({ userid: accountIdSchema('user'), password: passwordSchema }),
});

export const clientDeviceRegister = operation({
  name: 'clientDeviceRegister',
  title: 'A device registers at the account server',
  path: '/device/register',
  table: 'table1',
  extras: true,
  schema: z.object({ deviceid: accountIdSchema('device'), password: passwordSchema, ...deviceInfo }),
});

export const clientUserModify = operation({
  name: 'clientUserModify',
  title: 'A user changes its password',
  path: '/user/modify',
  table: 'table2',
  passwordChecked: true,
  extras: false,
  schema: z.object({
    userid: accountIdSchema('user'),
    password: passwordSchema,
    newpassword: passwordSchema,
  }),
});

export const clientDeviceModify = operation({
  name: 'clientDeviceModify',
  title: 'A device changes its password, verification code or description',
  path: '/device/modify',
  table: 'table2',
  passwordChecked: true,
  extras: true,
  schema: z.object({
    deviceid: accountIdSchema('device'),
    password: passwordSchema,
    newpassword: passwordSchema.optional(),
    ...deviceInfo,
  }),
});

export const clientUserRemove = operation({
  name: 'clientUserRemove',
  title: 'A user deletes its account',
  path: '/user/remove',
  table: 'table3',
  passwordChecked: true,
  extras: false,
  schema: z.object({ userid: accountIdSchema('user'), password: passwordSchema }),
});

export const clientDeviceRemove = operation({
  name: 'clientDeviceRemove',
  title: 'A device deletes its account',
  path: '/device/remove',
  table: 'table3',
  passwordChecked: true,
  extras: false,
  schema: z.object({ deviceid: accountIdSchema('device'), password: passwordSchema }),
});

export const CLIENT_OPERATIONS = [
  clientUserRegister,
  clientDeviceRegister,
  clientUserModify,
  clientDeviceModify,
  clientUserRemove,
  clientDeviceRemove,
] as const;
