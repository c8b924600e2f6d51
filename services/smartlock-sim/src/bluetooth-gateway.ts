/**
 * A BGW as a program (ISO/IEC 14543-5-104 clause 6.4, Figure 5): an IRSP device that logs in over XMPP, tells the
 * smart-lock application (RAS) who owns it, and hosts BSLDs on a simulated Bluetooth link — relaying the RAS's sealed
 * frames to them and their answers back, without reading either. It speaks to the RAS with messages to the
 * application server's XMPP address (Message 9 at the RAS) and hears it in messages from there (Message 13).
 */
import { client, xml, type Client, type XmlElement } from '@xmpp/client';
import type { Logger } from '@irsp/http';
import { buildFromGateway, parseToGateway, type LockDevice, type ToGateway } from '@irsp/smartlock';

const ACCESS_NS = 'urn:irsp:access:0';

export interface GatewayOptions {
  /** `xmpp://host:port` of the message server's c2s (STARTTLS). */
  service: string;
  /** The AS. */
  domain: string;
  /** The gateway's device ID (`#bgw-hall`) and password. */
  deviceid: string;
  password: string;
  /** The smart-lock application server's XMPP address (`smartlock.as1.irsp.test`). */
  ras: string;
  locks: readonly LockDevice[];
  logger: Logger;
  /** What a Bluetooth round trip to a lock takes (ms). */
  linkDelayMs?: number;
  /** Signal strength the locks are heard with (dBm). */
  rssi?: number;
  /** Told after a lock handled a frame (its memory, bolt or battery may have changed). */
  changed?: () => void;
}

export class BluetoothGateway {
  private readonly xmpp: Client;
  private owner: string | null | undefined;
  private readonly locks: Map<string, LockDevice>;

  constructor(private readonly options: GatewayOptions) {
    this.locks = new Map(options.locks.map((lock) => [lock.lockId, lock]));
    this.xmpp = client({
      service: options.service,
      domain: options.domain,
      resource: 'bgw',
      timeout: 10_000,
      credentials: async (authenticate: (c: object, m: string) => Promise<void>, mechanisms: string[]) => {
        const mechanism = mechanisms.includes('SCRAM-SHA-1') ? 'SCRAM-SHA-1' : mechanisms[0]!;
        await authenticate({ username: options.deviceid, password: options.password }, mechanism);
      },
    });
    this.xmpp.on('error', (error: Error) =>
      options.logger.warn({ err: error.message }, 'gateway connection'),
    );
    this.xmpp.on('online', () => void this.online());
    this.xmpp.on('stanza', (stanza: XmlElement) => void this.stanza(stanza));
  }

  async start(): Promise<void> {
    await this.xmpp.start();
  }

  async stop(): Promise<void> {
    this.xmpp.reconnect.stop();
    await this.xmpp.stop().catch(() => undefined);
  }

  private async online(): Promise<void> {
    this.owner = undefined;
    await this.xmpp.send(xml('presence'));
    await this.announceOwner();
  }

  /** Tells the RAS who owns the gateway (its IRSP owner, 14543-5-8 §9), whenever that may have changed. */
  private async announceOwner(): Promise<void> {
    try {
      const answer = await this.xmpp.iqCaller.request(
        xml('iq', { type: 'get' }, xml('access', { xmlns: ACCESS_NS })),
      );
      const owner = answer.getChild('access', ACCESS_NS)?.attrs.owner ?? null;
      if (owner === this.owner) return;
      this.owner = owner;
      this.options.logger.info({ owner }, 'gateway owner');
      await this.toRas(buildFromGateway({ type: 'hello', owner }));
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, 'gateway owner not read');
    }
  }

  private async stanza(stanza: XmlElement): Promise<void> {
    // A binding or its end shows as a roster push or a subscription: the owner may have changed.
    if (
      (stanza.is('iq') && stanza.attrs.type === 'set' && stanza.getChild('query', 'jabber:iq:roster')) ||
      (stanza.is('presence') && ['subscribed', 'unsubscribed'].includes(stanza.attrs.type ?? ''))
    ) {
      if (stanza.is('iq')) await this.xmpp.send(xml('iq', { type: 'result', id: stanza.attrs.id }));
      return this.announceOwner();
    }
    if (!stanza.is('message') || stanza.attrs.from?.split('/')[0] !== this.options.ras) return;
    const parsed = parseToGateway(stanza.getChildText('body') ?? '');
    if (!parsed.ok) {
      this.options.logger.warn({ detail: parsed.error.detail }, 'message from the RAS dropped');
      return;
    }
    await this.handle(parsed.value);
  }

  private async handle(message: ToGateway): Promise<void> {
    const delay = this.options.linkDelayMs ?? 50;
    if (message.type === 'scan') {
      await sleep(Math.min(message.seconds * 1000, 1_000));
      return this.toRas(
        buildFromGateway({
          type: 'scanResult',
          requestId: message.requestId,
          locks: [...this.locks.keys()].map((lockId) => ({ lockId, rssi: this.options.rssi ?? -60 })),
        }),
      );
    }
    const lock = this.locks.get(message.lockId);
    await sleep(delay);
    const answer = lock?.handle(Buffer.from(message.frame, 'base64'));
    if (lock) this.options.changed?.();
    if (!lock) {
      return this.toRas(
        buildFromGateway({ type: 'unreachable', requestId: message.requestId, lockId: message.lockId }),
      );
    }
    // A frame the lock cannot trust gets no answer over the air; the RAS times the request out.
    if (!answer) return;
    await this.toRas(
      buildFromGateway({
        type: 'frame',
        requestId: message.requestId,
        lockId: message.lockId,
        frame: answer.toString('base64'),
      }),
    );
  }

  private toRas(data: string): Promise<void> {
    return this.xmpp.send(xml('message', { to: this.options.ras }, xml('body', {}, data)));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
