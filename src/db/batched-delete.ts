/**
 * Deleting old rows of an append-only table in short batches, beside the traffic that writes it.
 * SKIP LOCKED: two processes pruning at once take different rows instead of waiting.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Db } from './database.js';
import type { Database } from './schema.js';

/** Deletes up to `batchSize` rows whose `timeColumn` is before `before` (oldest first); returns how many. */
export async function deleteOlderThan<T extends keyof Database & string>(
  db: Db, table: T, timeColumn: keyof Database[T] & string, before: RawBuilder<unknown>, batchSize: number,
): Promise<number> {
  const { numAffectedRows } = await sql`
    DELETE FROM ${sql.table(table)} t USING (
      SELECT id FROM ${sql.table(table)}
       WHERE ${sql.ref(timeColumn)} < ${before}
       ORDER BY ${sql.ref(timeColumn)} LIMIT ${batchSize}
         FOR UPDATE SKIP LOCKED) old
     WHERE t.id = old.id`.execute(db);
  return Number(numAffectedRows ?? 0);
}
