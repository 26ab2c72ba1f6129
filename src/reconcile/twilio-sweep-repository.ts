/**
 * Every read and write of `twilio_sweeps` (migrations/0011_twilio.sql): when each Twilio tenant's
 * conversations were last read and when next. A worker claims a due tenant by moving its
 * next_sweep_at one interval ahead (FOR UPDATE SKIP LOCKED: one worker of the fleet per tenant);
 * a sweep that dies is therefore retried one interval later, and a stopped one is handed back at once.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { GroupError, TwilioSweepResult } from '../db/schema.js';

export interface ClaimedSweep {
  tenantId: string;
  /** Read every conversation of the service (an import was asked for, or none has finished yet). */
  fullRequested: boolean;
  /** The service the last full sweep read. */
  serviceSid: string | null;
  /** When the last successful sweep finished. */
  finishedAt: Date | null;
}

/** Gives every tenant with Twilio settings a row (new ones are due at once, for a full sweep). */
export async function ensureTwilioSweeps(db: Db): Promise<void> {
  await sql`
    INSERT INTO twilio_sweeps (tenant_id)
    SELECT app_id FROM tenants WHERE twilio IS NOT NULL
    ON CONFLICT (tenant_id) DO NOTHING`.execute(db);
}

/** Claims the most overdue sweep of an active Twilio tenant, or null when none is due. */
export async function claimDueTwilioSweep(db: Db, intervalMs: number): Promise<ClaimedSweep | null> {
  const { rows } = await sql<{ tenant_id: string; full_requested: boolean; service_sid: string | null; finished_at: Date | null }>`
    UPDATE twilio_sweeps s
       SET next_sweep_at = now() + make_interval(secs => ${intervalMs / 1000}), started_at = now(),
           full_requested = false, updated_at = now()
      FROM (SELECT d.tenant_id, d.full_requested
              FROM twilio_sweeps d JOIN tenants t ON t.app_id = d.tenant_id AND t.status = 'active' AND t.twilio IS NOT NULL
             WHERE d.next_sweep_at <= now()
             ORDER BY d.next_sweep_at LIMIT 1
               FOR UPDATE OF d SKIP LOCKED) due
     WHERE s.tenant_id = due.tenant_id
    RETURNING s.tenant_id, due.full_requested, s.service_sid, s.finished_at`.execute(db);
  const row = rows[0];
  return row ? { tenantId: row.tenant_id, fullRequested: row.full_requested, serviceSid: row.service_sid, finishedAt: row.finished_at } : null;
}

/** A sweep finished: its counts; a full one also records which service it read. */
export async function recordTwilioSweepDone(db: Db, tenantId: string, done: { result: TwilioSweepResult; serviceSid: string }): Promise<void> {
  await db.updateTable('twilio_sweeps')
    .set({
      finished_at: sql`now()`,
      result: JSON.stringify(done.result),
      last_error: null,
      updated_at: sql`now()`,
      ...(done.result.full ? { full_finished_at: sql`now()`, service_sid: done.serviceSid } : {}),
    })
    .where('tenant_id', '=', tenantId).execute();
}

/**
 * A sweep failed or was stopped: the reason (null when stopped), a retry no later than
 * `retryAfterMs` from now, and a full sweep still owed if this one was full.
 */
export async function recordTwilioSweepFailed(db: Db, tenantId: string, failure: { error: GroupError | null; wasFull: boolean; retryAfterMs: number }): Promise<void> {
  await db.updateTable('twilio_sweeps')
    .set((eb) => ({
      next_sweep_at: sql`LEAST(next_sweep_at, now() + make_interval(secs => ${failure.retryAfterMs / 1000}))`,
      full_requested: failure.wasFull ? true : eb.ref('full_requested'),
      updated_at: sql`now()`,
      ...(failure.error ? { last_error: JSON.stringify(failure.error) } : {}),
    }))
    .where('tenant_id', '=', tenantId).execute();
}

/** An operator's "read every conversation now" (an import). */
export async function requestTwilioImport(db: Db, tenantId: string): Promise<void> {
  await sql`
    INSERT INTO twilio_sweeps (tenant_id, next_sweep_at, full_requested) VALUES (${tenantId}, now(), true)
    ON CONFLICT (tenant_id) DO UPDATE SET next_sweep_at = now(), full_requested = true, updated_at = now()`.execute(db);
}

export interface TwilioSweepView {
  nextSweepAt: string | null;
  fullRequested: boolean;
  startedAt: string | null;
  finishedAt: string | null;
  fullFinishedAt: string | null;
  result: TwilioSweepResult | null;
  lastError: GroupError | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The operator's view; a tenant no worker has looked at yet owes a full sweep. */
export async function readTwilioSweep(db: Db, tenantId: string): Promise<TwilioSweepView> {
  const row = await db.selectFrom('twilio_sweeps').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
  if (!row) return { nextSweepAt: null, fullRequested: true, startedAt: null, finishedAt: null, fullFinishedAt: null, result: null, lastError: null };
  return {
    nextSweepAt: iso(row.next_sweep_at),
    fullRequested: row.full_requested,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    fullFinishedAt: iso(row.full_finished_at),
    result: row.result,
    lastError: row.last_error ? { code: row.last_error.code, message: row.last_error.message } : null,
  };
}
