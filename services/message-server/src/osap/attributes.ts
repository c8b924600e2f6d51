/**
 * The last value each OSAP device reported for each of its attributes (migration 015, decision 0027): written from
 * its `attribute/up` channel by the DAS, read by its related accounts over XMPP (urn:irsp:osap:0).
 */
import type { AttributeReport } from '@irsp/osap';
import type { Db } from '@irsp/store';

/** The most attributes kept per device: a report that would make more is refused (and its connection closed). */
export const MAX_ATTRIBUTES_PER_DEVICE = 256;

export interface ReportedAttribute {
  name: string;
  value: string;
  reportedAt: Date;
}

export class OsapAttributes {
  constructor(private readonly db: Db) {}

  /** Keeps a report's values as the device's last ones; false (nothing kept) when it would exceed the bound. */
  async report(local: string, attributes: AttributeReport): Promise<boolean> {
    return this.db
      .transaction(async (tx) => {
        for (const { name, value } of attributes)
          await tx.query(
            `INSERT INTO osap_attributes (local_part, name, value) VALUES ($1, $2, $3)
           ON CONFLICT (local_part, name) DO UPDATE SET value = $3, reported_at = now()`,
            [local, name, value],
          );
        const count = await tx.query<{ n: string | number }>(
          'SELECT count(*) AS n FROM osap_attributes WHERE local_part = $1',
          [local],
        );
        if (Number(count.rows[0]!.n) <= MAX_ATTRIBUTES_PER_DEVICE) return true;
        throw new TooManyAttributes();
      })
      .catch((error: unknown) => {
        if (error instanceof TooManyAttributes) return false;
        throw error;
      });
  }

  async read(local: string): Promise<ReportedAttribute[]> {
    const r = await this.db.query<{ name: string; value: string; reported_at: Date | string }>(
      'SELECT name, value, reported_at FROM osap_attributes WHERE local_part = $1 ORDER BY name',
      [local],
    );
    return r.rows.map((row) => ({ name: row.name, value: row.value, reportedAt: new Date(row.reported_at) }));
  }
}

/** Rolls the report's transaction back. */
class TooManyAttributes extends Error {}
