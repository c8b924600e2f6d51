/**
 * Messages 8–11 to the application servers of the AS (clause 8.3.1–8.3.2), through the durable outbox: written to
 * the database first, delivered in order per application server and device (or user), retried with back-off until
 * a 200 (Table 5: a 400 goes to dead_letters). The message server presents each application server's own
 * `appid`/`token` (our addition, docs/protocol.md). A slow or dead application server never blocks anyone: the
 * outbox sends in the background.
 */
import type { ApplicationServerConfig } from '@irsp/config';
import type { OperationClient, SendOutcome } from '@irsp/http';
import {
  MESSAGES,
  deliveryHeaders,
  message10,
  message11,
  message8,
  message9,
  applicationServerTarget,
  isApplicationServerTarget,
  type MessageDef,
} from '@irsp/protocol';
import type { Db, Queryable } from '@irsp/store';
import { enqueue, type Outbox, type OutboxRow } from './outbox.js';

export class Notifications {
  constructor(
    private readonly db: Db,
    private readonly outbox: Outbox,
    private readonly applicationServers: readonly ApplicationServerConfig[],
  ) {}

  /** Message 8 or 9: a user's or device's upload to one application server (by its XMPP address). */
  async upload(applicationJid: string, local: string, data: string): Promise<boolean> {
    const app = this.applicationServers.find((a) => a.jid === applicationJid);
    if (!app) return false;
    const device = local.startsWith('#');
    await this.enqueue(
      app,
      device ? message9 : message8,
      local,
      device ? { deviceid: local, data } : { userid: local, data },
    );
    return true;
  }

  /**
   * Message 9 for an OSAP device's event (decision 0022): the device names no application server, so it goes to
   * every one that takes devices' events (`deviceEvents`, default true). Answers how many it was queued for.
   */
  async deviceEvent(device: string, data: string): Promise<number> {
    const apps = this.applicationServers.filter((a) => a.deviceEvents !== false);
    if (apps.length === 0) return 0;
    await this.db.transaction(async (tx) => {
      for (const app of apps) await this.enqueue(app, message9, device, { deviceid: device, data }, tx);
    });
    this.kick();
    return apps.length;
  }

  /**
   * Message 10 or 11: a device came online or went offline, to every application server that asked for it. Written
   * in the caller's transaction when given one (`tx`: the caller kicks the outbox once committed).
   */
  async deviceStatus(device: string, online: boolean, tx?: Queryable): Promise<void> {
    for (const app of this.applicationServers) {
      if (!app.deviceStatus) continue;
      await this.enqueue(
        app,
        online ? message10 : message11,
        device,
        { deviceid: device, type: online ? 'online' : 'offline' },
        tx,
      );
    }
  }

  /** Notifications were written in a transaction that has committed: they may be sent now. */
  kick(): void {
    this.outbox.kick();
  }

  /** The application servers' XMPP addresses, for XEP-0030 items. */
  applicationServerItems(): { jid: string; name: string }[] {
    return this.applicationServers.map((a) => ({ jid: a.jid, name: a.name }));
  }

  isApplicationServer(jid: string): boolean {
    return this.applicationServers.some((a) => a.jid === jid);
  }

  private async enqueue(
    app: ApplicationServerConfig,
    operation: MessageDef,
    local: string,
    params: Record<string, string>,
    tx?: Queryable,
  ) {
    await enqueue(tx ?? this.db, {
      target: applicationServerTarget(app.name),
      operation: operation.name,
      // One queue per application server and account: its notifications arrive in the order they happened (a
      // device's Message 11 never overtakes its 10).
      orderingKey: `${app.name}:${local}`,
      params,
    });
    if (!tx) this.outbox.kick();
  }
}

/** Delivers an outbox row of Messages 8–11, or undefined when the row is not one of them. */
export function deliverNotification(
  client: OperationClient,
  applicationServers: readonly ApplicationServerConfig[],
  row: OutboxRow,
): Promise<SendOutcome> | undefined {
  if (!isApplicationServerTarget(row.target)) return undefined;
  const app = applicationServers.find((a) => applicationServerTarget(a.name) === row.target);
  const operation = MESSAGES.find(
    (m) => m.name === row.operation && m.from === 'messageServer' && m.to === 'applicationServer',
  );
  if (
    !app ||
    !operation?.serviceUri ||
    operation.serviceUri === 'push' ||
    operation.serviceUri === 'exchange'
  ) {
    return Promise.resolve({
      kind: 'status',
      status: 400,
      detail: `no application server route for ${row.target} ${row.operation}`,
    });
  }
  return client.send(operation, app.url, { ...row.params, ...app.credentials } as never, {
    serviceUri: app.serviceUris[operation.serviceUri],
    headers: deliveryHeaders({ id: row.deliveryId, attempt: row.attempts }),
  });
}
