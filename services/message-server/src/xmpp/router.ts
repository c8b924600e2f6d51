/**
 * The IRSP rules on top of the XMPP engine, as far as they exist yet: sessions bound per full JID (the older
 * one is closed with `conflict`), the server's own address answers XEP-0199 pings and XEP-0030 disco#info, a
 * user's or device's own resources reach each other, and everything else is blocked (clause 7.2 b–d: only
 * stanzas between related users and devices are delivered; relationships — rosters — are not built yet, so
 * no other pair is related).
 */
import {
  NS,
  bareString,
  jidToString,
  parseJid,
  stanzaError,
  xml,
  type C2sRouter,
  type C2sSession,
  type Element,
} from '@irsp/xmpp';
import type { Logger } from '@irsp/http';
import { SessionRegistry } from './sessions.js';

const DISCO_INFO = 'http://jabber.org/protocol/disco#info';

export class MessageRouter implements C2sRouter {
  readonly sessions = new SessionRegistry();

  constructor(
    private readonly domain: string,
    private readonly logger: Logger,
  ) {}

  bound(session: C2sSession): void {
    const previous = this.sessions.add(session);
    if (previous) previous.close('conflict', 'replaced by a new connection with the same resource');
    this.logger.info({ jid: jidToString(session.jid) }, 'online');
  }

  unbound(session: C2sSession): void {
    this.sessions.remove(session);
    this.logger.info({ jid: jidToString(session.jid) }, 'offline');
  }

  /** Closes every session of an account (removed by Message 5/6). */
  disconnect(local: string): void {
    for (const session of this.sessions.resources(local)) session.close('not-authorized', 'account removed');
  }

  route(from: C2sSession, stanza: Element): void {
    const to = stanza.attrs.to === undefined ? undefined : parseJid(stanza.attrs.to);
    // No `to`, or the server's own address: the server answers (RFC 6120 §10.3, §10.5).
    if (!to || (to.local === undefined && to.domain === this.domain && to.resource === undefined)) {
      return this.toServer(from, stanza);
    }
    if (to.domain === this.domain && to.local === from.jid.local)
      return this.toOwnAccount(from, stanza, to.resource);
    // Clause 7.2 b–d: no relationship, no delivery.
    this.refuse(from, stanza, 'service-unavailable');
  }

  private toServer(from: C2sSession, stanza: Element): void {
    if (stanza.name !== 'iq') return; // presence and messages to the server itself are not for anyone
    const type = stanza.attrs.type;
    if (type === 'result' || type === 'error') return;
    const payload = stanza.getChildElements()[0];
    const result = () =>
      xml('iq', { type: 'result', id: stanza.attrs.id, from: this.domain, to: stanza.attrs.from });
    if (type === 'get' && payload?.name === 'ping' && payload.xmlns === NS.ping) {
      from.send(result());
      return;
    }
    if (type === 'get' && payload?.name === 'query' && payload.xmlns === DISCO_INFO && !payload.attrs.node) {
      from.send(
        result().append(
          xml(
            'query',
            { xmlns: DISCO_INFO },
            xml('identity', { category: 'server', type: 'im', name: 'IRSP message server' }),
            xml('feature', { var: DISCO_INFO }),
            xml('feature', { var: NS.ping }),
          ),
        ),
      );
      return;
    }
    this.refuse(from, stanza, 'service-unavailable');
  }

  /** A stanza to one's own bare or full JID: delivered to that resource, or to every other resource. */
  private toOwnAccount(from: C2sSession, stanza: Element, resource: string | undefined): void {
    const targets =
      resource === undefined
        ? this.sessions.resources(from.jid.local!).filter((s) => s !== from)
        : [this.sessions.resource(from.jid.local!, resource)].filter((s): s is C2sSession => s !== undefined);
    if (targets.length === 0) {
      if (stanza.name === 'presence') return;
      return this.refuse(from, stanza, 'service-unavailable');
    }
    for (const target of targets) this.deliver(from, target, stanza);
  }

  /** Writes to the recipient; a recipient that cannot keep up pauses the sender (back-pressure). */
  private deliver(from: C2sSession, to: C2sSession, stanza: Element): void {
    if (!to.send(stanza)) {
      from.pause();
      void to.writable().then(() => from.resume());
    }
  }

  private refuse(from: C2sSession, stanza: Element, condition: 'service-unavailable'): void {
    if (stanza.attrs.type === 'error' || stanza.attrs.type === 'result') return;
    if (stanza.name === 'presence') return; // RFC 6121: presence is silently dropped
    const error = stanzaError(stanza, 'cancel', condition);
    error.attrs.from = stanza.attrs.to ?? this.domain;
    from.send(error);
    this.logger.debug(
      { from: bareString(from.jid), to: stanza.attrs.to, name: stanza.name },
      'stanza blocked',
    );
  }
}
