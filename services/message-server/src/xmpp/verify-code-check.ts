/**
 * A verification code presented to bind a device (14543-5-8 §10), checked under the `verifycode` guessing policy
 * (docs/decisions/0010-guessing-throttle.md): per device, per requester and per pair, in the database every
 * message server of the AS shares. Each wrong code is told to the device and to its owner, in a message stored
 * offline when they are not online (at most `perTarget` per device and hour: later attempts are refused unchecked).
 */
import { verifyPassword } from '@irsp/credentials';
import type { GuessLimits, GuessPolicy } from '@irsp/credentials';
import type { Logger } from '@irsp/http';
import { xml, type Element } from '@irsp/xmpp';
import type { AccessRights } from './access.js';
import type { Delivery } from './delivery.js';

/** Our extension's namespace (docs/client-protocol.md): the code in a request, and our notices and errors. */
export const VERIFY_CODE_NS = 'urn:irsp:verifycode:0';

export type CodeOutcome = 'right' | 'wrong' | { throttled: true; retryAfterMs: number };

export class VerifyCodeCheck {
  constructor(
    private readonly policy: GuessPolicy,
    private readonly limits: GuessLimits,
    private readonly delivery: Delivery,
    private readonly access: AccessRights,
    /**
     * A message to every resource of a local account wherever it is in the AS, stored offline when it has none;
     * resolves with the refusal written in its place (storage full).
     */
    private readonly toAccount: (local: string, message: Element) => Promise<Element | undefined>,
    private readonly logger: Logger,
  ) {}

  /** `requester` (a bare JID) presents `code` for the local device `device` (its bare JID `deviceJid`). */
  async check(device: string, deviceJid: string, requester: string, code: string): Promise<CodeOutcome> {
    const verdict = await this.policy.admit(device, requester);
    if (!verdict.allowed) {
      this.logger.info(
        { device: deviceJid, requester, limit: verdict.limit, retryAfterMs: verdict.retryAfterMs },
        'verification code refused by the guessing throttle',
      );
      return { throttled: true, retryAfterMs: verdict.retryAfterMs };
    }
    const hash = await this.delivery.roster.verifyCodeHash(device);
    if (hash && (await verifyPassword(code, hash))) {
      await this.policy.succeeded(verdict.ticket);
      return 'right';
    }
    await this.policy.failed(verdict.ticket);
    this.logger.info({ device: deviceJid, requester }, 'wrong verification code');
    await this.notify(device, deviceJid, requester, verdict.counts.target + 1);
    return 'wrong';
  }

  /** A wrong code told to the device and to its owner: online resources at once, otherwise stored offline. */
  private async notify(
    device: string,
    deviceJid: string,
    requester: string,
    failures: number,
  ): Promise<void> {
    const owner = await this.access.owner(device);
    for (const to of owner === undefined || owner === requester ? [deviceJid] : [deviceJid, owner]) {
      const notice = xml(
        'message',
        { type: 'normal', from: this.delivery.domain, to, id: this.delivery.nextId('verifycode') },
        xml(
          'body',
          {},
          `A wrong verification code for ${deviceJid} came from ${requester} ` +
            `(${failures} of ${this.limits.perTarget} allowed per hour).`,
        ),
        xml('failed', {
          xmlns: VERIFY_CODE_NS,
          device: deviceJid,
          requester,
          failures: String(failures),
          limit: String(this.limits.perTarget),
        }),
      );
      await this.send(to, notice).catch((error: unknown) =>
        this.logger.error({ err: error, to }, 'wrong verification code notice not delivered'),
      );
    }
  }

  private async send(to: string, notice: Element): Promise<void> {
    const local = this.delivery.roster.local(to);
    if (local === undefined) {
      this.delivery.toOtherAs(notice);
      return;
    }
    const refusal = await this.toAccount(local, notice);
    if (refusal) this.logger.warn({ to }, 'wrong verification code notice not stored');
  }
}
