/**
 * Who is online on which message server of the AS (docs/decisions/0013-online-sessions.md), so that a crash never
 * leaves a device online for ever at the application servers (Messages 10–11, clause 8.3.2) or an account online for
 * its related accounts (presence, RFC 6121 §4.5).
 *
 * Every bound session is a row of `online_sessions` with this server's id, written in the transaction that queues
 * the device's Message 10 and deleted in the one that queues its Message 11, so an 11 always follows its 10 in the
 * outbox (same ordering key, later row). A device is online while it has a row anywhere in the AS: Message 10 when
 * its first row is written, 11 when its last row goes, whichever message server holds them.
 *
 * Each message server holds a lease (`message_server_leases`) that it renews every third of `leaseMs`. Rows of a
 * server whose lease has run out are taken over by a live server of the AS: deleted, Message 11 queued for devices
 * left with no row, presence unavailable sent for each full JID. A server that starts takes over the rows it held
 * before it stopped, before it accepts a login. A server that finds its own lease expired (a long pause, the
 * database out of reach) may have been taken over: it renews and writes its live sessions again (Message 10 for a
 * device that was reported offline meanwhile).
 *
 * Logins and logouts are written in group commits, in order (one statement each, one transaction per group). On
 * PostgreSQL a device's rows are read and written under its advisory lock, taken for the whole group in one order,
 * so that two message servers never both see a device's first (or last) session.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@irsp/http';
import type { Db, Queryable } from '@irsp/store';
import type { Notifications } from './notifications.js';

export interface OnlineSessionOptions {
  /** How long this server's sessions count as held without a renewal (ms); renewed every third of it. */
  leaseMs: number;
}

export const DEFAULT_ONLINE_SESSION_OPTIONS: OnlineSessionOptions = { leaseMs: 30_000 };

/** A bound session, by account (local part) and resource. */
export interface SessionKey {
  local: string;
  resource: string;
}

/** What the router does for the sessions: which it holds now, and what others learn of those lost in a crash. */
export interface SessionHooks {
  held(): SessionKey[];
  lost(sessions: SessionKey[]): void;
  /** Message servers of the AS whose lease has run out (every renewal round, on every live server). */
  dead(servers: string[]): void;
}

interface Write extends SessionKey {
  kind: 'bound' | 'unbound';
  resolve(): void;
  reject(error: unknown): void;
}

/** Writes (and takeovers) per transaction at most. */
const MAX_BATCH = 500;

/** Takes the advisory locks of the keys $1, in the order of their lock ids (so that no two writers deadlock). */
const LOCK_KEYS = `SELECT pg_advisory_xact_lock(h)
                     FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k) x ORDER BY h`;

/** `before`: the account's rows before this one was written (a statement does not see its own change). */
const INSERT_SQL = `
  INSERT INTO online_sessions (local_part, resource, server_id) VALUES ($1, $2, $3)
  ON CONFLICT (local_part, resource) DO UPDATE SET server_id = EXCLUDED.server_id, since = now()
  RETURNING (SELECT count(*)::int FROM online_sessions WHERE local_part = $1) AS before`;

/** Only this server's row: a row another server has written since (same full JID) is that server's. */
const DELETE_SQL = `
  WITH gone AS (DELETE FROM online_sessions WHERE local_part = $1 AND resource = $2 AND server_id = $3 RETURNING 1)
  SELECT (SELECT count(*)::int FROM gone) AS deleted,
         (SELECT count(*)::int FROM online_sessions WHERE local_part = $1) AS before`;

/** A live lease of the row's server. */
const LIVE = `EXISTS (SELECT 1 FROM message_server_leases l WHERE l.server_id = s.server_id AND l.lease_until >= now())`;

const isDevice = (local: string) => local.startsWith('#');

export class OnlineSessions {
  private readonly instance = randomUUID();
  private waiting: Write[] = [];
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private started = false;

  constructor(
    private readonly db: Db,
    /** This message server's id (unique among the live message servers of the AS). */
    private readonly serverId: string,
    private readonly notifications: Notifications,
    private readonly hooks: SessionHooks,
    private readonly logger: Logger,
    private readonly options: OnlineSessionOptions = DEFAULT_ONLINE_SESSION_OPTIONS,
  ) {}

  /**
   * Takes the lease, reports offline every session this server held before it stopped and those of dead servers,
   * then renews the lease (and takes over dead servers' sessions) every third of it. Call before accepting logins.
   */
  async start(): Promise<void> {
    await this.register();
    this.started = true;
    const own = await this.takeOver([this.serverId], true);
    if (own > 0) this.logger.warn({ sessions: own }, 'sessions held before the last stop reported offline');
    await this.sweep();
    this.timer = setInterval(() => this.tick(), Math.max(1, Math.floor(this.options.leaseMs / 3)));
    this.timer.unref();
  }

  /**
   * Writes the bound session (and the device's Message 10 if it was offline in the AS) once committed. Writes are
   * applied in the order they were asked for.
   */
  bound(local: string, resource: string): Promise<void> {
    return this.write('bound', local, resource);
  }

  /** Deletes the session's row (and queues the device's Message 11 if it was its last session in the AS). */
  unbound(local: string, resource: string): Promise<void> {
    return this.write('unbound', local, resource);
  }

  /**
   * Writes what is pending and gives the lease up: sessions whose logout was not written are then taken over at
   * once by a live server of the AS (or by this one at its next start).
   */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    while (this.writing) await this.writing;
    if (!this.started) return;
    this.started = false;
    try {
      await this.db.query(
        'UPDATE message_server_leases SET lease_until = now() WHERE server_id = $1 AND instance = $2',
        [this.serverId, this.instance],
      );
    } catch (error) {
      // The lease then runs out by itself: the sessions left are taken over a lease later.
      this.logger.error({ err: error }, 'session lease not given up at stop');
    }
  }

  /** The sessions the other live message servers of the AS hold (a cluster's registry starts from them). */
  async elsewhere(): Promise<(SessionKey & { server: string })[]> {
    const r = await this.db.query<{ local_part: string; resource: string; server_id: string }>(
      `SELECT local_part, resource, server_id FROM online_sessions s WHERE server_id <> $1 AND ${LIVE}`,
      [this.serverId],
    );
    return r.rows.map((row) => ({ local: row.local_part, resource: row.resource, server: row.server_id }));
  }

  // --- logins and logouts ------------------------------------------------------------------------------------------

  private write(kind: Write['kind'], local: string, resource: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ kind, local, resource, resolve, reject });
      this.writing ??= this.writeAll();
    });
  }

  private async writeAll(): Promise<void> {
    // Logins that arrive in one turn of the event loop share a commit.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      try {
        if (await this.writeBatch(batch)) this.notifications.kick();
        for (const write of batch) write.resolve();
      } catch (error) {
        for (const write of batch) write.reject(error);
      }
    }
    this.writing = undefined;
  }

  /** One transaction (a statement alone for a single user): true when a Message 10 or 11 was queued. */
  private async writeBatch(batch: Write[]): Promise<boolean> {
    const devices = [...new Set(batch.filter((w) => isDevice(w.local)).map((w) => w.local))];
    const run = async (q: Queryable) => {
      await this.lockDevices(q, devices);
      let queued = false;
      for (const w of batch) {
        const change = await this.apply(q, w);
        if (change === undefined || !isDevice(w.local)) continue;
        await this.notifications.deviceStatus(w.local, change, q);
        queued = true;
      }
      return queued;
    };
    if (devices.length === 0 && batch.length === 1) return run(this.db);
    return this.db.transaction(run);
  }

  /** Writes one login or logout; answers whether the account came online (true), went offline (false), or neither. */
  private async apply(q: Queryable, w: Write): Promise<boolean | undefined> {
    if (w.kind === 'bound') {
      const r = await q.query<{ before: number }>(INSERT_SQL, [w.local, w.resource, this.serverId]);
      return r.rows[0]!.before === 0 ? true : undefined;
    }
    const r = await q.query<{ deleted: number; before: number }>(DELETE_SQL, [
      w.local,
      w.resource,
      this.serverId,
    ]);
    const { deleted, before } = r.rows[0]!;
    return deleted === 1 && before === 1 ? false : undefined;
  }

  private async lockDevices(q: Queryable, devices: string[]): Promise<void> {
    // PGlite runs one statement at a time in one process: nothing can interleave.
    if (devices.length === 0 || this.db.kind === 'pglite') return;
    await q.query(LOCK_KEYS, [devices.map((d) => `online:${d}`)]);
  }

  // --- the lease ---------------------------------------------------------------------------------------------------

  private async register(): Promise<void> {
    await this.db.query(
      `INSERT INTO message_server_leases (server_id, instance, lease_until)
       VALUES ($1, $2, now() + make_interval(secs => $3::double precision / 1000))
       ON CONFLICT (server_id) DO UPDATE SET instance = EXCLUDED.instance, lease_until = EXCLUDED.lease_until`,
      [this.serverId, this.instance, this.options.leaseMs],
    );
  }

  private tick(): void {
    if (this.ticking) return;
    this.ticking = (async () => {
      try {
        await this.renew();
        await this.sweep();
      } catch (error) {
        this.logger.error({ err: error }, 'session lease not renewed');
      }
    })().finally(() => {
      this.ticking = undefined;
    });
  }

  /**
   * Extends the lease while it is still ours and running; otherwise another server may have taken our sessions over
   * (or another process runs with our id): the lease is taken again and every session held is written again.
   */
  private async renew(): Promise<void> {
    const renewed = await this.db.query(
      `UPDATE message_server_leases SET lease_until = now() + make_interval(secs => $3::double precision / 1000)
        WHERE server_id = $1 AND instance = $2 AND lease_until >= now()`,
      [this.serverId, this.instance, this.options.leaseMs],
    );
    if (renewed.rowCount === 1) return;
    const held = this.hooks.held();
    this.logger.warn({ sessions: held.length }, 'session lease lost: taken again, sessions written again');
    await this.register();
    await Promise.all(held.map((s) => this.bound(s.local, s.resource)));
  }

  /** Takes over the sessions of every other server whose lease has run out. */
  private async sweep(): Promise<void> {
    const dead = await this.db.query<{ server_id: string }>(
      'SELECT server_id FROM message_server_leases WHERE lease_until < now() AND server_id <> $1',
      [this.serverId],
    );
    const servers = dead.rows.map((r) => r.server_id);
    // Every round, none dead too: a server back alive is no longer in the list.
    this.hooks.dead(servers);
    if (servers.length === 0) return;
    const taken = await this.takeOver(servers, false);
    if (taken > 0)
      this.logger.warn({ servers, sessions: taken }, 'sessions of dead message servers reported offline');
  }

  /**
   * Deletes the rows of `servers` (all of them when `own`, else only while the server's lease has run out), queues
   * Message 11 for each device left with no row in the AS and has presence unavailable sent for each session.
   * Returns how many sessions were taken over.
   */
  private async takeOver(servers: string[], own: boolean): Promise<number> {
    let total = 0;
    for (;;) {
      const candidates = await this.db.query<{ local_part: string; resource: string }>(
        `SELECT local_part, resource FROM online_sessions s
          WHERE server_id = ANY($1::text[]) AND ($2 OR NOT ${LIVE})
          ORDER BY local_part, resource LIMIT $3`,
        [servers, own, MAX_BATCH],
      );
      if (candidates.rows.length === 0) return total;
      const lost = await this.db.transaction(async (tx) => {
        const devices = [...new Set(candidates.rows.map((c) => c.local_part).filter(isDevice))];
        await this.lockDevices(tx, devices);
        // Checked again under the locks: a row the server renewed or another server rewrote is not taken.
        const gone = await tx.query<{ local_part: string; resource: string }>(
          `DELETE FROM online_sessions s USING unnest($1::text[], $2::text[]) AS c (local_part, resource)
            WHERE s.local_part = c.local_part AND s.resource = c.resource
              AND s.server_id = ANY($3::text[]) AND ($4 OR NOT ${LIVE})
            RETURNING s.local_part, s.resource`,
          [candidates.rows.map((c) => c.local_part), candidates.rows.map((c) => c.resource), servers, own],
        );
        const goneDevices = [...new Set(gone.rows.map((g) => g.local_part).filter(isDevice))];
        const still = await tx.query<{ local_part: string }>(
          'SELECT DISTINCT local_part FROM online_sessions WHERE local_part = ANY($1::text[])',
          [goneDevices],
        );
        const online = new Set(still.rows.map((r) => r.local_part));
        for (const device of goneDevices)
          if (!online.has(device)) await this.notifications.deviceStatus(device, false, tx);
        return gone.rows.map((g) => ({ local: g.local_part, resource: g.resource }));
      });
      this.notifications.kick();
      this.hooks.lost(lost);
      total += lost.length;
    }
  }
}
