/**
 * Readiness: can this process do its work now? Each check is a promise that settles within
 * `timeoutMs`; the report names each check `ok` or `unavailable` (never an address or an error
 * text, so it can be served without authentication). Liveness (/health) checks nothing.
 *
 * Served without a token, so the checks run at most once a second whatever the number of callers
 * (`readinessProbe`): a flood of /ready costs the database and the queue nothing more.
 */
import { sql } from 'kysely';
import { queueProbeOf } from '../groups/reconcile-requester.js';
import type { AppContext } from './context.js';

export type ReadinessCheck = () => Promise<unknown>;
export interface ReadinessReport { ready: boolean; checks: Record<string, 'ok' | 'unavailable'> }

const DEFAULT_TIMEOUT_MS = 2_000;

export async function checkReadiness(checks: Record<string, ReadinessCheck>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ReadinessReport> {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => settlesInTime(checks[name], timeoutMs)));
  const report: ReadinessReport = { ready: results.every(Boolean), checks: {} };
  names.forEach((name, i) => { report.checks[name] = results[i] ? 'ok' : 'unavailable'; });
  return report;
}

/**
 * Readiness as an endpoint answers it: concurrent callers share one run of the checks, and a report
 * is reused for `maxAgeMs` after it was made.
 */
export function readinessProbe(
  checks: () => Record<string, ReadinessCheck>,
  opts: { maxAgeMs?: number; timeoutMs?: number; now?: () => number } = {},
): () => Promise<ReadinessReport> {
  const { maxAgeMs = 1_000, timeoutMs = DEFAULT_TIMEOUT_MS, now = Date.now } = opts;
  let last: { at: number; report: Promise<ReadinessReport> } | null = null;
  return () => {
    if (last === null || now() - last.at >= maxAgeMs) {
      const entry = { at: now(), report: checkReadiness(checks(), timeoutMs) };
      // The age counts from when the report was made, not from when it was asked for.
      entry.report.then(() => { entry.at = now(); }, () => {});
      last = entry;
    }
    return last.report;
  };
}

/** What every service process needs: PostgreSQL, and the queue backend when it has one. */
export function serviceChecks(ctx: Pick<AppContext, 'db' | 'reconcile'>): Record<string, ReadinessCheck> {
  const checks: Record<string, ReadinessCheck> = { database: () => sql`SELECT 1`.execute(ctx.db) };
  // Read at check time: the requester may be replaced after the context is built (tests do).
  if (queueProbeOf(ctx.reconcile)) checks.queue = () => queueProbeOf(ctx.reconcile)!.ping();
  return checks;
}

async function settlesInTime(check: ReadinessCheck, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
  try {
    return await Promise.race([check().then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
