/**
 * Messages 1–15 of ISO/IEC 14543-5-9 clause 8, exactly as printed: path, parameters (mandatory unless the
 * clause says optional), direction and response table. `appid`/`token` are printed on Messages 1–6; on
 * Messages 7–15 they are our addition (docs/protocol.md), so that no server accepts an unauthenticated request.
 */
import { z } from 'zod';
import { localPartSchema } from './ids.js';
import type { Operation } from './operation.js';
import {
  appidSchema,
  dataSchema,
  deviceInfoSchema,
  passwordSchema,
  tokenSchema,
  verifyCodeSchema,
  versionSchema,
} from './params.js';
import type { TableName } from './status.js';

export type ServerRole = 'accountServer' | 'messageServer' | 'applicationServer';
/** Configured service URIs of Messages 8–15 (clause 8.3, 8.4; `peerExchange`: 14–15 from other ASs, 8.6). */
export type ServiceUri =
  'userUpload' | 'deviceUpload' | 'deviceStatus' | 'push' | 'exchange' | 'peerExchange';

export interface MessageDef<S extends z.ZodObject = z.ZodObject> extends Operation<S> {
  readonly number: number;
  readonly clause: string;
  readonly from: ServerRole;
  readonly to: ServerRole;
  /** For Messages 8–15: which configured service URI of the receiver serves it. */
  readonly serviceUri?: ServiceUri;
  /** Parameters we add to the printed ones (documented in docs/protocol.md). */
  readonly added: readonly string[];
}

function message<S extends z.ZodObject>(def: MessageDef<S>): MessageDef<S> {
  return Object.freeze(def);
}

const user = localPartSchema('user');
const device = localPartSchema('device');
const auth = { appid: appidSchema, token: tokenSchema };
const deviceInfo = {
  verifycode: verifyCodeSchema.optional(),
  type: deviceInfoSchema.optional(),
  vendor: deviceInfoSchema.optional(),
  model: deviceInfoSchema.optional(),
};
const fromAccountServer = { from: 'accountServer', to: 'messageServer', added: [] } as const;
const mToA = { from: 'messageServer', to: 'applicationServer', added: ['appid', 'token'] } as const;
const aToM = { from: 'applicationServer', to: 'messageServer', added: ['appid', 'token'] } as const;
const aToA = { from: 'applicationServer', to: 'applicationServer', added: ['appid', 'token'] } as const;
/**
 * Messages 14–15 in the AS, our addition (docs/protocol.md, "The third party of Messages 14–15"): from the gateway
 * to third-party servers (clause 8.8), the third party whose call the message is; to the gateway, the only third
 * party it is for. Only the gateway's own application server is believed when it names one.
 */
const thirdPartySchema = z.string().regex(/^[a-z0-9-]{1,32}$/, 'thirdparty must name a third party');
const common = (table: TableName) => ({ table, extras: false }) as const;

export const message1 = message({
  number: 1,
  name: 'userRegister',
  title: 'User registration message sent from account server to message server',
  clause: '8.2.1',
  path: '/user/register.xml',
  ...fromAccountServer,
  ...common('table1'),
  schema: z.object({ version: versionSchema, ...auth, name: user, password: passwordSchema }),
});

export const message2 = message({
  number: 2,
  name: 'deviceRegister',
  title: 'Device registration message sent from account server to message server',
  clause: '8.2.1',
  path: '/device/register',
  ...fromAccountServer,
  table: 'table1',
  extras: true,
  schema: z.object({
    version: versionSchema,
    ...auth,
    name: device,
    password: passwordSchema,
    ...deviceInfo,
  }),
});

export const message3 = message({
  number: 3,
  name: 'userModify',
  title: 'User information modification message sent from account server to message server',
  clause: '8.2.2',
  path: '/user/modify',
  ...fromAccountServer,
  ...common('table2'),
  schema: z.object({ version: versionSchema, ...auth, name: user, password: passwordSchema }),
});

export const message4 = message({
  number: 4,
  name: 'deviceModify',
  title: 'Device information modification message sent from account server to message server',
  clause: '8.2.2',
  path: '/device/modify',
  ...fromAccountServer,
  table: 'table2',
  extras: true,
  schema: z.object({
    version: versionSchema,
    ...auth,
    name: device,
    password: passwordSchema,
    ...deviceInfo,
  }),
});

export const message5 = message({
  number: 5,
  name: 'userRemove',
  title: 'User deletion message sent from account server to message server',
  clause: '8.2.3',
  path: '/user/remove',
  ...fromAccountServer,
  ...common('table3'),
  schema: z.object({ version: versionSchema, ...auth, name: user }),
});

export const message6 = message({
  number: 6,
  name: 'deviceRemove',
  title: 'Device deletion message sent from account server to message server',
  clause: '8.2.3',
  path: '/device/remove',
  ...fromAccountServer,
  ...common('table3'),
  schema: z.object({ version: versionSchema, ...auth, name: device }),
});

export const message7 = message({
  number: 7,
  name: 'modifyVerifyCode',
  title: 'Device verification code reset message sent from message server to account server',
  clause: '8.2.4',
  path: '/modifyVerifyCode.xml',
  from: 'messageServer',
  to: 'accountServer',
  added: ['appid', 'token'],
  ...common('table4'),
  schema: z.object({ deviceid: device, verifycode: verifyCodeSchema, ...auth }),
});

export const message8 = message({
  number: 8,
  name: 'userUpload',
  title: 'Message sent from message server to application server when user uploads message',
  clause: '8.3.1',
  path: undefined,
  serviceUri: 'userUpload',
  ...mToA,
  ...common('table5'),
  discriminator: { param: 'userid' },
  schema: z.object({ userid: user, data: dataSchema, ...auth }),
});

export const message9 = message({
  number: 9,
  name: 'deviceUpload',
  title: 'Message sent from message server to application server when device uploads message',
  clause: '8.3.1',
  path: undefined,
  serviceUri: 'deviceUpload',
  ...mToA,
  ...common('table5'),
  discriminator: { param: 'deviceid' },
  schema: z.object({ deviceid: device, data: dataSchema, ...auth }),
});

export const message10 = message({
  number: 10,
  name: 'deviceOnline',
  title: 'Message sent from message server to application server when device comes online',
  clause: '8.3.2',
  path: undefined,
  serviceUri: 'deviceStatus',
  ...mToA,
  ...common('table5'),
  discriminator: { param: 'type', value: 'online' },
  schema: z.object({ deviceid: device, type: z.literal('online'), ...auth }),
});

export const message11 = message({
  number: 11,
  name: 'deviceOffline',
  title: 'Message sent from message server to application server when device goes offline',
  clause: '8.3.2',
  path: undefined,
  serviceUri: 'deviceStatus',
  ...mToA,
  ...common('table5'),
  discriminator: { param: 'type', value: 'offline' },
  schema: z.object({ deviceid: device, type: z.literal('offline'), ...auth }),
});

export const message12 = message({
  number: 12,
  name: 'pushToUser',
  title:
    'Message sent from application server to message server when application server pushes message to a user',
  clause: '8.3.3',
  path: undefined,
  serviceUri: 'push',
  ...aToM,
  ...common('table6'),
  discriminator: { param: 'userid' },
  schema: z.object({ userid: user, data: dataSchema, ...auth }),
});

export const message13 = message({
  number: 13,
  name: 'pushToDevice',
  // Printed "…pushes message to a user" in the standard; the parameter is a device ID.
  title:
    'Message sent from application server to message server when application server pushes message to a device',
  clause: '8.3.3',
  path: undefined,
  serviceUri: 'push',
  ...aToM,
  ...common('table6'),
  discriminator: { param: 'deviceid' },
  schema: z.object({ deviceid: device, data: dataSchema, ...auth }),
});

export const message14 = message({
  number: 14,
  name: 'exchangeUser',
  title:
    'Message sent from source application server to target application server when they exchange user related message',
  clause: '8.4.1',
  path: undefined,
  serviceUri: 'exchange',
  ...aToA,
  added: [...aToA.added, 'thirdparty'],
  ...common('table7'),
  discriminator: { param: 'userid' },
  schema: z.object({ userid: user, data: dataSchema, ...auth, thirdparty: thirdPartySchema.optional() }),
});

export const message15 = message({
  number: 15,
  name: 'exchangeDevice',
  title:
    'Message sent from source application server to target application server when they exchange device related message',
  clause: '8.4.1',
  path: undefined,
  serviceUri: 'exchange',
  ...aToA,
  added: [...aToA.added, 'thirdparty'],
  ...common('table7'),
  discriminator: { param: 'deviceid' },
  schema: z.object({ deviceid: device, data: dataSchema, ...auth, thirdparty: thirdPartySchema.optional() }),
});

export const MESSAGES = [
  message1,
  message2,
  message3,
  message4,
  message5,
  message6,
  message7,
  message8,
  message9,
  message10,
  message11,
  message12,
  message13,
  message14,
  message15,
] as const;
