/**
 * `irsp accounts list|show|register|remove`: the accounts of the account server, one with its relationships,
 * devices and sessions from its AS's message server, and the client account API for registering and removing.
 */
import { OperationClient } from '@irsp/http';
import {
  adminAccount,
  adminAccountRelations,
  adminAccounts,
  adminRemoveAccount,
  adminUrl,
  clientDeviceRegister,
  clientDeviceRemove,
  clientUserRegister,
  clientUserRemove,
} from '@irsp/protocol';
import { EXIT, usageError } from '../exit.js';
import { autonomousSystem, operatorHeader, splitId, type Context, type Result } from '../context.js';
import { table } from '../table.js';

export async function accountsList(
  ctx: Context,
  options: { search?: string; limit?: string },
): Promise<Result> {
  const url = adminUrl(adminAccounts, ctx.manifest.accountServer.url, {}, options);
  const { accounts } = await ctx.http.json(adminAccounts.response, 'GET', url, operatorHeader(ctx));
  return {
    exit: EXIT.ok,
    json: { accounts },
    text:
      accounts.length === 0
        ? 'no accounts'
        : table(
            ['ID', 'KIND', 'STATE', 'CREATED'],
            accounts.map((a) => [a.id, a.kind, a.state, a.createdAt]),
          ),
  };
}

export async function accountsShow(ctx: Context, id: string): Promise<Result> {
  const authorization = operatorHeader(ctx);
  const as = autonomousSystem(ctx, splitId(id).domain);
  const { account } = await ctx.http.json(
    adminAccount.response,
    'GET',
    adminUrl(adminAccount, ctx.manifest.accountServer.url, { id }),
    authorization,
  );
  // Every message server of an AS shares its database: the first that answers knows the relationships.
  const ms = as.messageServers[0]!;
  const relations = await ctx.http.json(
    adminAccountRelations.response,
    'GET',
    adminUrl(adminAccountRelations, ms.url, { id }),
    authorization,
  );
  const lines = [
    `${account.id}  ${account.kind}, ${account.state}, created ${account.createdAt}`,
    ...(account.kind === 'device'
      ? [`  type ${account.type ?? '-'}, vendor ${account.vendor ?? '-'}, model ${account.model ?? '-'}`]
      : []),
    ...(relations.owner ? [`  owner: ${relations.owner}`] : []),
    ...(relations.accessRights.length > 0 ? [`  access rights: ${relations.accessRights.join(', ')}`] : []),
    ...(relations.devices.length > 0 ? [`  devices: ${relations.devices.map((d) => d.id).join(', ')}`] : []),
    relations.relationships.length === 0
      ? '  relationships: none'
      : `  relationships:\n${indent(
          table(
            ['CONTACT', 'SUBSCRIPTION', 'ASKED'],
            relations.relationships.map((r) => [r.contact, r.subscription, r.ask ? 'yes' : 'no']),
          ),
        )}`,
    relations.sessions.length === 0
      ? '  sessions: none'
      : `  sessions:\n${indent(
          table(
            ['RESOURCE', 'MESSAGE SERVER', 'SINCE'],
            relations.sessions.map((s) => [s.resource, s.messageServer, s.since]),
          ),
        )}`,
  ];
  return { exit: EXIT.ok, json: { account, ...relations }, text: lines.join('\n') };
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

/** An operator's removal, without the account's password (Message 5 or 6 from the account server). */
export async function accountsRemoveByOperator(ctx: Context, id: string): Promise<Result> {
  autonomousSystem(ctx, splitId(id).domain);
  const url = adminUrl(adminRemoveAccount, ctx.manifest.accountServer.url, { id });
  const { removed } = await ctx.http.json(adminRemoveAccount.response, 'DELETE', url, operatorHeader(ctx));
  return { exit: EXIT.ok, json: { removed }, text: `removed ${removed}` };
}

/** Registration and removal with a password go through the client account API, as the user or device would. */
export async function accountsChange(
  ctx: Context,
  ca: string,
  change: 'register' | 'remove',
  id: string,
  password: string | undefined,
): Promise<Result> {
  if (!password) throw usageError(`accounts ${change} needs --password`);
  const { device } = splitId(id);
  autonomousSystem(ctx, splitId(id).domain);
  const client = new OperationClient({ ca });
  const base = ctx.manifest.accountServer.url;
  const done = ctx.progress.waiting(`the account server (${change} ${id})`);
  try {
    const outcome = await (device
      ? client.send(change === 'register' ? clientDeviceRegister : clientDeviceRemove, base, {
          deviceid: id,
          password,
        })
      : client.send(change === 'register' ? clientUserRegister : clientUserRemove, base, {
          userid: id,
          password,
        }));
    if (outcome.kind === 'unreachable')
      return {
        exit: EXIT.unreachable,
        json: { id, outcome },
        text: `account server unreachable: ${outcome.reason}`,
      };
    const ok = outcome.kind === 'status' && outcome.status === 200;
    const said =
      outcome.kind === 'status'
        ? `${outcome.status} ${outcome.detail ?? 'OK'}`
        : `${outcome.httpStatus} ${outcome.reason}`;
    return {
      exit: ok
        ? EXIT.ok
        : outcome.kind === 'status' && outcome.status === 401
          ? EXIT.unauthorized
          : EXIT.failed,
      json: { id, outcome },
      text: ok ? `${change === 'register' ? 'registered' : 'removed'} ${id}` : `${change} ${id}: ${said}`,
    };
  } finally {
    done();
    await client.close();
  }
}
