/**
 * Messages 14 and 15 between application servers of different ASs. Clause 8.6 leaves the exchange to the
 * providers; ours (docs/decisions/0006-cross-as-exchange.md) keeps the printed parameters and replaces the
 * same-AS `token`, which never crosses an AS boundary, by the caller's `appid`, the `as` it belongs to, a
 * `timestamp` and a `nonce`, the whole form signed with a key shared by the two peers (SIGNATURE_HEADER).
 * They are served on their own service URI (`peerExchange`), apart from the same-AS exchange URI.
 */
import { z } from 'zod';
import { isDomainName, localPartSchema } from './ids.js';
import type { MessageDef } from './messages.js';
import { appidSchema, dataSchema } from './params.js';
import { formTimestampSchema, nonceSchema } from './signature.js';

export const domainSchema = z.string().refine(isDomainName, 'as must be a lower-case domain name');

const peerAuth = {
  appid: appidSchema,
  as: domainSchema,
  timestamp: formTimestampSchema,
  nonce: nonceSchema,
};
const acrossAs = {
  clause: '8.6',
  path: undefined,
  serviceUri: 'peerExchange',
  from: 'applicationServer',
  to: 'applicationServer',
  added: ['appid', 'as', 'timestamp', 'nonce'],
  table: 'table7',
  extras: false,
} as const;

function message<S extends z.ZodObject>(def: MessageDef<S>): MessageDef<S> {
  return Object.freeze(def);
}

export const message14AcrossAs = message({
  number: 14,
  name: 'exchangeUserAcrossAs',
  title: 'Message 14 from an application server of another AS (user related message)',
  ...acrossAs,
  discriminator: { param: 'userid' },
  schema: z.object({ userid: localPartSchema('user'), data: dataSchema, ...peerAuth }),
});

export const message15AcrossAs = message({
  number: 15,
  name: 'exchangeDeviceAcrossAs',
  title: 'Message 15 from an application server of another AS (device related message)',
  ...acrossAs,
  discriminator: { param: 'deviceid' },
  schema: z.object({ deviceid: localPartSchema('device'), data: dataSchema, ...peerAuth }),
});
