/**
 * What an operator finds in the log at info (issue 16): the SASL mechanism of each login (never the password), a
 * stanza refused or blocked and why, and a TLS handshake that failed.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '@xmpp/client';
import { xmppLogin } from '../../../test/support/xmpp.js';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';

let fixture: XmppFixture;

const lines = (msg: string) =>
  fixture.log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

beforeAll(async () => {
  fixture = await startXmppMessageServer({ directTls: true });
  await fixture.register('alice', 'alice secret pw');
  await fixture.register('bob', 'bob secret pw');
}, 60_000);

afterAll(async () => {
  await fixture?.close();
});

describe('the log at info', () => {
  it('names the SASL mechanism of a login, not the password', async () => {
    const alice = await xmppLogin({
      port: fixture.c2sPort,
      domain: fixture.domain,
      username: 'alice',
      password: 'alice secret pw',
      mechanism: 'SCRAM-SHA-1',
    });
    try {
      await expect
        .poll(() => lines('authenticated').map((l) => [l.level, l.username, l.mechanism]))
        .toEqual([[30, 'alice', 'SCRAM-SHA-1']]);
      // A message to bob, who is not related to alice: blocked (clause 7.2), and the log says so.
      await alice.send(xml('message', { to: `bob@${fixture.domain}`, id: 'm1' }, xml('body', {}, 'hi')));
      await expect
        .poll(() => lines('stanza not delivered').map((l) => [l.level, l.to, l.condition]))
        .toEqual([[30, `bob@${fixture.domain}`, 'service-unavailable']]);
    } finally {
      await alice.stop();
    }
    expect(fixture.log.lines.join('\n')).not.toContain('alice secret pw');
  });

  it('says when a TLS handshake failed on the direct-TLS port', async () => {
    const socket = connect(fixture.directTlsPort!, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('<?xml version="1.0"?><stream:stream>not TLS at all\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    await expect
      .poll(() => lines('TLS handshake failed').map((l) => [l.level, l.listener]))
      .toEqual([[30, 'c2s-direct-tls']]);
  });
});
