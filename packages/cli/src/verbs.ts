/** Every verb of the command: its words, usage, options and what it runs (run.ts parses and dispatches). */
import type { Context, Result } from './context.js';
import { accountsChange, accountsList, accountsRemoveByOperator, accountsShow } from './verbs/accounts.js';
import { failedLogins } from './verbs/failed-logins.js';
import { hashOperatorPassword } from './verbs/hash-password.js';
import { outbox } from './verbs/outbox.js';
import { s2s } from './verbs/s2s.js';
import { exchange, push } from './verbs/send.js';
import { kick, sessions } from './verbs/sessions.js';
import { status } from './verbs/status.js';
import { tail } from './verbs/tail.js';

export type Values = Record<string, string | boolean | undefined>;

export interface Verb {
  words: readonly string[];
  /** Positional arguments, all required. */
  args: readonly string[];
  summary: string;
  /** More for `--help`: what the arguments are, what it asks of which server. */
  details: string;
  options: Record<string, { type: 'string' | 'boolean'; help: string }>;
  run(ctx: Context, args: string[], values: Values, ca: string): Promise<Result>;
}

/** A verb that needs no running IRSP (no manifest): given only what it reads from stdin. */
export interface LocalVerb {
  words: readonly string[];
  args: readonly string[];
  summary: string;
  details: string;
  options: Verb['options'];
  local(stdin: () => Promise<string>): Promise<Result>;
}

const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

export const VERBS: readonly (Verb | LocalVerb)[] = [
  {
    words: ['status'],
    args: [],
    summary: 'health of every service',
    details:
      'Asks the admin API of the account server and of each message server, and /readyz of each application server. Exit 1 when any is not healthy.',
    options: {},
    run: (ctx) => status(ctx),
  },
  {
    words: ['accounts', 'list'],
    args: [],
    summary: 'accounts of every AS, oldest first',
    details: 'From the account server.',
    options: {
      search: { type: 'string', help: 'only IDs containing TEXT' },
      limit: { type: 'string', help: 'at most N (1–1000, default 100)' },
    },
    run: (ctx, _args, v) => accountsList(ctx, { search: str(v.search), limit: str(v.limit) }),
  },
  {
    words: ['accounts', 'show'],
    args: ['ID'],
    summary: 'one account with its relationships, devices and sessions',
    details:
      'ID is a user ID (alice@as1.irsp.test) or a device ID (#lock1@as1.irsp.test). Exit 1 when it does not exist.',
    options: {},
    run: (ctx, [id]) => accountsShow(ctx, id!),
  },
  {
    words: ['accounts', 'register'],
    args: ['ID'],
    summary: 'register a user or device, as it would itself',
    details: 'Through the client account API of the account server. Exit 1 when the ID exists (421).',
    options: { password: { type: 'string', help: "the account's password (required)" } },
    run: (ctx, [id], v, ca) => accountsChange(ctx, ca, 'register', id!, str(v.password)),
  },
  {
    words: ['accounts', 'remove'],
    args: ['ID'],
    summary: 'remove a user or device',
    details:
      'As an operator through the admin API; with --password through the client account API, as the account itself would (exit 4 on a wrong password). Exit 1 when the ID does not exist or its message server did not confirm (the reconciler then finishes the removal).',
    options: { password: { type: 'string', help: "the account's password (optional)" } },
    run: (ctx, [id], v, ca) =>
      typeof v.password === 'string'
        ? accountsChange(ctx, ca, 'remove', id!, v.password)
        : accountsRemoveByOperator(ctx, id!),
  },
  {
    words: ['sessions'],
    args: [],
    summary: 'online XMPP sessions per message server',
    details: '',
    options: { as: { type: 'string', help: 'only the message servers of this AS' } },
    run: (ctx, _args, v) => sessions(ctx, { as: str(v.as) }),
  },
  {
    words: ['kick'],
    args: ['JID'],
    summary: 'end one online session (full JID: local@domain/resource)',
    details:
      'The session ends with the stream error policy-violation. Exit 1 when no message server holds it.',
    options: {},
    run: (ctx, [jid]) => kick(ctx, jid!),
  },
  {
    words: ['push'],
    args: ['FROM', 'ID', 'DATA'],
    summary: 'push DATA to a user (Message 12) or device (Message 13)',
    details:
      'FROM is an application server (name or name@domain; the first AS when the domain is left out) that sends through its message server. ID is of the same AS. Exit 1 when the message server does not answer 200.',
    options: {},
    run: (ctx, [from, id, data]) => push(ctx, from!, id!, data!),
  },
  {
    words: ['exchange'],
    args: ['FROM', 'TO', 'ID', 'DATA'],
    summary: 'send DATA about a user (Message 14) or device (Message 15) to another application server',
    details:
      "FROM and TO are application servers (name or name@domain); TO without a domain is of FROM's AS. Across ASs the message is signed (clause 8.6) and TO must be a peer of FROM. Exit 1 when the receiver does not answer 200.",
    options: {},
    run: (ctx, [from, to, id, data]) => exchange(ctx, from!, to!, id!, data!),
  },
  {
    words: ['tail'],
    args: ['APP'],
    summary: 'what an application server receives, as it arrives',
    details: 'APP is an application server running the recorder (name or name@domain). Follows until Ctrl-C.',
    options: {
      after: { type: 'string', help: 'only what came after this received id' },
      once: { type: 'boolean', help: 'print what is there and exit' },
    },
    run: (ctx, [app], v) => tail(ctx, app!, { after: str(v.after), once: v.once === true }),
  },
  {
    words: ['outbox'],
    args: [],
    summary: 'what each message server has yet to deliver, per receiver',
    details: 'Count, age of the oldest and last error per receiver, and the dead letters.',
    options: {},
    run: (ctx) => outbox(ctx),
  },
  {
    words: ['s2s'],
    args: [],
    summary: 'XMPP federation links of every message server',
    details:
      'Peer domain, direction, how the peer was authenticated (SASL EXTERNAL or dialback) and since when.',
    options: {},
    run: (ctx) => s2s(ctx),
  },
  {
    words: ['failed-logins'],
    args: [],
    summary: 'recent failed password and verification code checks',
    details: 'From the account server and every message server, newest first.',
    options: { limit: { type: 'string', help: 'at most N per server (1–1000, default 100)' } },
    run: (ctx, _args, v) => failedLogins(ctx, { limit: str(v.limit) }),
  },
  {
    words: ['hash-password'],
    args: [],
    summary: "an operator password's hash for the topology's operators",
    details:
      'Reads the password from stdin (one line) and prints the passwordHash to write in the topology (docs/configuration.md). Needs no running IRSP.',
    options: {},
    local: (stdin) => hashOperatorPassword(stdin),
  },
];
