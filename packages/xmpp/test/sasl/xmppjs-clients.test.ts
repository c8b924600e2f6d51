/**
 * The SASL client side of @xmpp/client 0.14 (saslmechanisms + @xmpp/sasl-scram-sha-1 / @xmpp/sasl-plain, with the
 * btoa/atob of @xmpp/base64) against our mechanisms, exchanging the base64 text of the XML elements as @xmpp/sasl
 * does, so the bytes are those a real @xmpp/client login puts on the wire.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { saslprep } from '@mongodb-js/saslprep';
import { scramCredential, type ScramCredential } from '@irsp/credentials';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decodeSaslData,
  encodeSaslData,
  plainMechanism,
  scramMechanism,
  type Mechanism,
  type Step,
} from '../../src/sasl/index.js';
import { show, tableLookup } from './helpers.js';

interface ClientCredentials {
  username: string;
  password: string;
  authzid?: string;
}
interface ClientMechanism {
  name: string;
  clientFirst: boolean;
  response(credentials: ClientCredentials): string | Promise<string>;
  challenge(data: string): unknown;
  _serverSignature?: Uint8Array;
}
interface ClientFactory {
  create(names: string[]): ClientMechanism | null;
}

// pnpm does not hoist @xmpp/client's dependencies: resolve them the way @xmpp/client itself does.
const fromRoot = createRequire(new URL('../../../../package.json', import.meta.url));
const fromClient = createRequire(fromRoot.resolve('@xmpp/client/package.json'));
const fromSasl = createRequire(fromClient.resolve('@xmpp/sasl/package.json'));
const importFile = (path: string) => import(pathToFileURL(path).href);

let factory: ClientFactory;
let base64: { encode(text: string): string; decode(text: string): string };

beforeAll(async () => {
  const SASLFactory = (await importFile(fromClient.resolve('saslmechanisms')))
    .default as new () => ClientFactory;
  const scramsha1 = (await importFile(fromClient.resolve('@xmpp/sasl-scram-sha-1'))).default;
  const plain = (await importFile(fromClient.resolve('@xmpp/sasl-plain'))).default;
  base64 = await importFile(fromSasl.resolve('@xmpp/base64'));
  factory = new SASLFactory();
  scramsha1(factory);
  plain(factory);
});

/** What @xmpp/sasl's authenticate() does, with our session on the other side of the base64 text. */
async function login(
  name: 'SCRAM-SHA-1' | 'PLAIN',
  server: Mechanism,
  credentials: ClientCredentials,
): Promise<{ steps: Step[]; client: ClientMechanism }> {
  const client = factory.create([name]);
  if (!client || !client.clientFirst || client.name !== name) throw new Error(`no ${name} client`);
  expect(server.name).toBe(name);
  const session = server.start();
  const steps: Step[] = [];
  let text = base64.encode(await client.response(credentials)); // <auth mechanism=…>text</auth>
  for (;;) {
    const data = decodeSaslData(text);
    if (data === 'incorrect-encoding') throw new Error('client sent bad base64');
    const step = await session.step(data);
    steps.push(step);
    if (step.kind !== 'challenge') return { steps, client };
    await client.challenge(base64.decode(encodeSaslData(step.data)));
    const response = await client.response(credentials);
    text = typeof response === 'string' ? base64.encode(response) : '';
  }
}

const serverSignature = (client: ClientMechanism) =>
  `v=${Buffer.from(client._serverSignature ?? new Uint8Array()).toString('base64')}`;

describe('@xmpp/client SCRAM-SHA-1 against scramMechanism', () => {
  let users: Record<string, ScramCredential>;
  beforeAll(async () => {
    users = {
      juliet: await scramCredential('Grüße aus 日本 🔑', 'sha1'),
      'a,b=c': await scramCredential('pencil', 'sha1'),
      nbsp: await scramCredential('pen\u00a0cil', 'sha1'),
    };
  });

  it('logs in with a non-ASCII password, and the server signature is the one the client expects', async () => {
    const lookup = tableLookup(users);
    const { steps, client } = await login('SCRAM-SHA-1', scramMechanism('sha1', lookup), {
      username: 'juliet',
      password: 'Grüße aus 日本 🔑',
    });
    expect(steps.map((s) => s.kind)).toEqual(['challenge', 'success']);
    expect(show(steps[1]!)).toEqual({ kind: 'success', username: 'juliet', data: serverSignature(client) });
    expect(lookup.calls).toEqual([['juliet', 'sha1']]);
  });

  it('logs in with , and = in the username (sent as =2C and =3D)', async () => {
    const { steps, client } = await login('SCRAM-SHA-1', scramMechanism('sha1', tableLookup(users)), {
      username: 'a,b=c',
      password: 'pencil',
    });
    expect(show(steps.at(-1)!)).toEqual({
      kind: 'success',
      username: 'a,b=c',
      data: serverSignature(client),
    });
  });

  it('logs in with an authzid equal to the bare JID', async () => {
    const server = scramMechanism('sha1', tableLookup(users), { domain: 'example.com' });
    const { steps } = await login('SCRAM-SHA-1', server, {
      username: 'juliet',
      password: 'Grüße aus 日本 🔑',
      authzid: 'juliet@example.com',
    });
    expect(show(steps.at(-1)!)).toMatchObject({ kind: 'success', username: 'juliet' });
  });

  it('needs the password SASLprepped by the caller: the client library does not (U+00A0 → space)', async () => {
    const server = scramMechanism('sha1', tableLookup(users));
    const prepared = await login('SCRAM-SHA-1', server, {
      username: 'nbsp',
      password: saslprep('pen\u00a0cil'),
    });
    expect(show(prepared.steps.at(-1)!)).toMatchObject({ kind: 'success', username: 'nbsp' });
    const spaced = await login('SCRAM-SHA-1', server, { username: 'nbsp', password: 'pen cil' });
    expect(show(spaced.steps.at(-1)!)).toMatchObject({ kind: 'success', username: 'nbsp' });
    const raw = await login('SCRAM-SHA-1', server, { username: 'nbsp', password: 'pen\u00a0cil' });
    expect(show(raw.steps.at(-1)!)).toEqual({
      kind: 'failure',
      condition: 'not-authorized',
      username: 'nbsp',
    });
  });

  it('fails with not-authorized on a wrong password', async () => {
    const { steps } = await login('SCRAM-SHA-1', scramMechanism('sha1', tableLookup(users)), {
      username: 'juliet',
      password: 'Grüße aus 日本',
    });
    expect(steps.map(show)[1]).toEqual({ kind: 'failure', condition: 'not-authorized', username: 'juliet' });
  });

  it('fails with not-authorized for an unknown user, after a challenge shaped like a real one', async () => {
    const server = scramMechanism('sha1', tableLookup(users));
    const unknown = await login('SCRAM-SHA-1', server, { username: 'romeo', password: 'pencil' });
    const known = await login('SCRAM-SHA-1', server, { username: 'juliet', password: 'wrong' });
    // Attribute names, value lengths and the iteration count: the same for an account and for no account.
    const shape = (step: Step | undefined) =>
      step?.kind === 'challenge'
        ? step.data
            .toString()
            .split(',')
            .map((f) => (f.startsWith('i=') ? f : `${f.slice(0, 2)}${f.length - 2}`))
            .join(',')
        : step?.kind;
    expect(shape(unknown.steps[0])).toBe('r=64,s=24,i=4096');
    expect(shape(known.steps[0])).toBe('r=64,s=24,i=4096');
    expect(unknown.steps.map(show)).toEqual([
      { kind: 'challenge', data: expect.stringMatching(/^r=/) },
      { kind: 'failure', condition: 'not-authorized', username: 'romeo' },
    ]);
    expect(known.steps.map(show)[1]).toEqual({
      kind: 'failure',
      condition: 'not-authorized',
      username: 'juliet',
    });
  });
});

describe('@xmpp/client PLAIN against plainMechanism', () => {
  let users: Record<string, ScramCredential>;
  beforeAll(async () => {
    users = {
      juliet: await scramCredential('pencil', 'sha256'),
      nbsp: await scramCredential('pen cil', 'sha256'),
    };
  });

  it('logs in with the initial response', async () => {
    const lookup = tableLookup(users);
    const { steps } = await login('PLAIN', plainMechanism(lookup), {
      username: 'juliet',
      password: 'pencil',
    });
    expect(steps.map(show)).toEqual([{ kind: 'success', username: 'juliet' }]);
    expect(lookup.calls).toEqual([['juliet', 'sha256']]);
  });

  it('fails with not-authorized on a wrong password and for an unknown user', async () => {
    const server = plainMechanism(tableLookup(users));
    const wrong = await login('PLAIN', server, { username: 'juliet', password: 'pencil2' });
    const unknown = await login('PLAIN', server, { username: 'romeo', password: 'pencil' });
    expect(wrong.steps.map(show)).toEqual([
      { kind: 'failure', condition: 'not-authorized', username: 'juliet' },
    ]);
    expect(unknown.steps.map(show)).toEqual([
      { kind: 'failure', condition: 'not-authorized', username: 'romeo' },
    ]);
  });

  it('sends Latin-1 instead of UTF-8 for non-ASCII passwords (btoa), which fails as malformed-request', async () => {
    // @xmpp/base64 encodes with btoa: U+00A0 becomes the single byte 0xA0, not UTF-8. A conforming client sends
    // C2 A0, which SASLprep maps to a space (see plain.test.ts).
    const { steps } = await login('PLAIN', plainMechanism(tableLookup(users)), {
      username: 'nbsp',
      password: 'pen\u00a0cil',
    });
    expect(steps.map(show)).toEqual([
      { kind: 'failure', condition: 'malformed-request', text: 'message is not UTF-8' },
    ]);
  });

  it('logs in with the UTF-8 bytes a conforming client sends for the same password', async () => {
    const session = plainMechanism(tableLookup(users)).start();
    const client = factory.create(['PLAIN'])!;
    const message = await client.response({ username: 'nbsp', password: 'pen\u00a0cil' });
    const data = decodeSaslData(Buffer.from(message, 'utf8').toString('base64'));
    expect(data).not.toBe('incorrect-encoding');
    expect(show(await session.step(data as Buffer))).toEqual({ kind: 'success', username: 'nbsp' });
  });
});
