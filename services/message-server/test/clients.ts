/**
 * @xmpp/client sessions against the XMPP fixture, each keeping every stanza it receives so that a test can wait
 * for one that already arrived, plus the roster and message steps the relationship tests repeat.
 */
import { expect } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import { xmppLogin } from '../../../test/support/xmpp.js';
import type { XmppFixture } from './fixture.js';

export const ROSTER = 'jabber:iq:roster';

export const presence = (type: string, from: string) => (s: XmlElement) =>
  s.is('presence') && s.attrs.type === type && s.attrs.from?.startsWith(from) === true;

export class XmppClients {
  readonly online = new Map<string, Client>();
  private readonly inboxes = new Map<Client, XmlElement[]>();

  constructor(private readonly fixture: () => XmppFixture) {}

  /** Logs in `username` with the password `<username> pw` (how the tests register accounts). */
  async login(username: string, resource = 'r'): Promise<Client> {
    const client = await xmppLogin({
      port: this.fixture().c2sPort,
      host: this.fixture().xmppHost,
      domain: this.fixture().domain,
      username,
      password: `${username} pw`,
      resource,
    });
    this.inboxes.set(client, []);
    client.on('stanza', (s: XmlElement) => this.inboxes.get(client)!.push(s));
    this.online.set(username, client);
    return client;
  }

  get(username: string): Client {
    const client = this.online.get(username);
    if (!client) throw new Error(`${username} is not logged in`);
    return client;
  }

  inbox(client: Client): XmlElement[] {
    return this.inboxes.get(client)!;
  }

  /** The first received stanza matching, taken out of the inbox; waits for it up to `timeoutMs`. */
  async received(client: Client, match: (s: XmlElement) => boolean, timeoutMs = 5_000): Promise<XmlElement> {
    const inbox = this.inbox(client);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = inbox.find(match);
      if (found) {
        inbox.splice(inbox.indexOf(found), 1);
        return found;
      }
      if (Date.now() > until)
        throw new Error(`nothing matching arrived; inbox: ${inbox.map(String).join('\n')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** The attributes of the next roster push about `jid`, acknowledged. */
  async pushedItem(client: Client, jid: string): Promise<Record<string, string>> {
    const push = await this.received(
      client,
      (s) =>
        s.is('iq') &&
        s.attrs.type === 'set' &&
        s.getChild('query', ROSTER)?.getChild('item')?.attrs.jid === jid,
    );
    await client.send(xml('iq', { type: 'result', id: push.attrs.id }));
    return push.getChild('query', ROSTER)!.getChild('item')!.attrs;
  }

  async rosterOf(client: Client): Promise<Record<string, string>[]> {
    const result = await client.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: ROSTER })));
    return result
      .getChild('query', ROSTER)!
      .children.filter((c): c is XmlElement => typeof c !== 'string')
      .map((i) => i.attrs);
  }

  async messageArrives(from: Client, to: Client, body: string): Promise<XmlElement> {
    await from.send(xml('message', { to: to.jid!.toString(), type: 'chat' }, xml('body', {}, body)));
    return this.received(to, (s) => s.is('message') && s.getChildText('body') === body);
  }

  /** A message from `from` to `toJid` bounces with the stanza error `condition` of `type`. */
  async messageRefused(
    from: Client,
    toJid: string,
    id: string,
    condition = 'service-unavailable',
    type = 'cancel',
  ): Promise<void> {
    await from.send(xml('message', { to: toJid, id, type: 'chat' }, xml('body', {}, 'refused?')));
    const error = await this.received(from, (s) => s.is('message') && s.attrs.id === id);
    expect(error.attrs.type).toBe('error');
    expect(error.getChild('error')?.attrs.type).toBe(type);
    expect(error.getChild('error')?.getChild(condition)).toBeDefined();
  }

  /** `user` and `device` bound with the device's verification code, as the user's roster push shows. */
  async bindWithCode(
    user: Client,
    device: string,
    code: string,
    domain = this.fixture().domain,
  ): Promise<void> {
    const jid = `${device}@${domain}`;
    await user.send(
      xml(
        'presence',
        { to: jid, type: 'subscribe' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, code),
      ),
    );
    expect(await this.pushedItem(user, jid)).toEqual({ jid, subscription: 'both' });
  }

  async stopAll(): Promise<void> {
    for (const client of this.online.values()) await client.stop().catch(() => undefined);
    this.online.clear();
  }
}
