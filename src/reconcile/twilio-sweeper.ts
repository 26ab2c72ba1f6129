/**
 * Drift repair for Twilio Conversations tenants. Webhooks alone cannot keep a group equal to its
 * conversation: changes made over Twilio's REST API fire no webhook unless the caller sets
 * `X-Twilio-Webhook-Enabled`, and a webhook that fails is lost. So every tenant with Twilio
 * settings is swept periodically (TWILIO_SWEEP_INTERVAL_SECONDS): the participant list of each
 * conversation is read (`GET /v1/Services/{IS}/Conversations/{CH}/Participants`, page by page) and
 * applied as a snapshot taken when the read began (src/groups/snapshot.ts), so a change that
 * happened after that moment still wins, and a reconcile is requested when the desired state moved.
 *
 * Which conversations:
 *  - a full sweep (an import) reads every conversation of the service: the first sweep after Twilio
 *    settings are added, one an operator asks for, and one after the service SID changed;
 *  - otherwise the conversations created since the day before the last successful sweep (Twilio
 *    filters by day), which finds conversations created over REST without a webhook;
 *  - and every live group of the tenant whose guid is a conversation SID.
 * A conversation found only by listing, with no participant that has an identity, creates no group.
 * A known conversation Twilio answers 404 for is counted as `missing` and left alone by default:
 * deleting every group because of a wrong service SID would be unrecoverable, while
 * onConversationRemoved deletes groups as it should. A tenant whose conversations are deleted over
 * REST without webhooks (or whose webhooks get lost) turns `deleteMissingConversations` on: such a
 * group is then deleted as of the 404 (and counted as changed). Participants without an identity (SMS, WhatsApp) are not members;
 * identities the id rule refuses are counted and skipped.
 *
 * Fleet-wide, one worker sweeps a tenant at a time (twilio-sweep-repository.ts). A failed sweep
 * (Twilio unreachable after the client's retries, credentials refused) records its reason and is
 * tried again after `failureRetryMs`.
 */
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import type { TwilioSweepResult } from '../db/schema.js';
import { liveGroupGuids } from '../groups/group-repository.js';
import { requestAfterCommit, type ReconcileRequester } from '../groups/reconcile-requester.js';
import { applyGroupSnapshot, type GroupSnapshot } from '../groups/snapshot.js';
import { DomainError } from '../lib/errors.js';
import { isValidId } from '../lib/ids.js';
import { PollingService } from '../lib/periodic-task.js';
import type { TenantDirectory } from '../tenants/directory.js';
import type { TenantRuntime } from '../tenants/types.js';
import type { TwilioRuntime } from '../tenants/twilio-settings.js';
import { TwilioConversationsClient, type RetrySettings } from '../twilio/conversations-client.js';
import { isConversationSid } from '../twilio/sids.js';
import {
  claimDueTwilioSweep, ensureTwilioSweeps, recordTwilioSweepDone, recordTwilioSweepFailed, type ClaimedSweep,
} from './twilio-sweep-repository.js';

/** Conversations created this long before the last successful sweep are listed again (Twilio filters by day). */
const DISCOVERY_OVERLAP_MS = 24 * 3_600_000;

export interface TwilioSweeperOptions {
  db: Db;
  log: Logger;
  tenants: TenantDirectory;
  reconcile: Pick<ReconcileRequester, 'requestMany'>;
  /** Base URL of Twilio's Conversations API (TWILIO_API_URL). */
  apiUrl: string;
  /** How often each tenant is swept. */
  intervalMs: number;
  /** How often a worker looks for a due tenant (default: the interval, at most 30 s). */
  pollMs?: number;
  /** A failed sweep is tried again after this long (default 60 s, at most the interval). */
  failureRetryMs?: number;
  /** The REST client's retries (and, in tests, its clock and jitter). */
  retry?: Partial<RetrySettings>;
  sleep?: (ms: number) => Promise<unknown>;
  random?: () => number;
}

class Stopped extends Error {}

export class TwilioSweeper extends PollingService {
  readonly #opts: TwilioSweeperOptions;

  constructor(opts: TwilioSweeperOptions) {
    const pollMs = opts.pollMs ?? Math.min(opts.intervalMs, 30_000);
    super({ intervalMs: pollMs, firstDelayMs: Math.min(pollMs, 1_000), log: opts.log, failure: 'twilio sweep pass failed' });
    this.#opts = opts;
  }

  protected poll(): Promise<number> {
    return this.sweepDue();
  }

  /** Also ends a sweep in progress (a request, a retry wait); its tenant is handed back. */
  override stop(): Promise<void> {
    return super.stop(new Stopped());
  }

  /** Sweeps every tenant that is due, one after another; returns how many. */
  async sweepDue(): Promise<number> {
    const { db, intervalMs } = this.#opts;
    await ensureTwilioSweeps(db);
    let swept = 0;
    while (!this.signal.aborted) {
      const claim = await claimDueTwilioSweep(db, intervalMs);
      if (!claim) break;
      await this.#sweepClaimed(claim);
      swept++;
    }
    return swept;
  }

  async #sweepClaimed(claim: ClaimedSweep): Promise<void> {
    const { db, log, tenants, intervalMs } = this.#opts;
    const retryAfterMs = Math.min(this.#opts.failureRetryMs ?? 60_000, intervalMs);
    let full = claim.fullRequested;
    try {
      const tenant = await tenants.get(claim.tenantId);
      const twilio = tenant?.twilio;
      if (!tenant || !twilio) return; // settings removed since the claim: nothing to read
      full ||= claim.finishedAt === null || claim.serviceSid !== twilio.conversationsServiceSid;
      const result = await this.#sweep(tenant, full, claim.finishedAt);
      await recordTwilioSweepDone(db, claim.tenantId, { result, serviceSid: twilio.conversationsServiceSid });
      log.info({ tenant: claim.tenantId, ...result }, 'twilio sweep finished');
    } catch (err) {
      const stopped = this.signal.aborted;
      const error = stopped ? null : err instanceof DomainError
        ? { code: err.code, message: err.message }
        : { code: 'TWILIO_SWEEP_FAILED', message: (err as Error).message };
      await recordTwilioSweepFailed(db, claim.tenantId, { error, wasFull: full, retryAfterMs: stopped ? 0 : retryAfterMs });
      if (!stopped) log.warn({ tenant: claim.tenantId, err: error!.message, code: error!.code }, 'twilio sweep failed; will retry');
    }
  }

  async #sweep(tenant: TenantRuntime, full: boolean, lastFinishedAt: Date | null): Promise<TwilioSweepResult> {
    const { db, reconcile, log } = this.#opts;
    const twilio = tenant.twilio!;
    const service = twilio.conversationsServiceSid;
    const client = new TwilioConversationsClient({
      baseUrl: this.#opts.apiUrl, username: twilio.apiKeySid, password: twilio.apiKeySecret,
      retry: this.#opts.retry, sleep: this.#opts.sleep, random: this.#opts.random, signal: this.signal,
    });

    const known = new Set((await liveGroupGuids(db, tenant.appId)).filter(isConversationSid));
    const listed = new Set<string>();
    const createdSince = full || lastFinishedAt === null ? undefined : new Date(lastFinishedAt.getTime() - DISCOVERY_OVERLAP_MS);
    for await (const conversation of client.conversations(service, { createdSince })) {
      this.#checkStopped();
      if (isConversationSid(conversation.sid)) listed.add(conversation.sid);
    }

    const result: TwilioSweepResult = { full, conversations: 0, changed: 0, missing: 0, skippedIdentities: 0 };
    for (const sid of [...new Set([...known, ...listed])].sort()) {
      this.#checkStopped();
      // The snapshot's time: the list may show any change made before this moment, none after it.
      const at = new Date();
      const participants = await client.participants(service, sid);
      const snapshot = participants === null ? this.#gone(known.has(sid), twilio, sid, at, result) : this.#listed(known.has(sid), participants, sid, at, result);
      if (snapshot === null) continue;
      const applied = await applyGroupSnapshot(db, tenant.appId, (guid) => tenant.groupIdentity(guid), snapshot);
      if (!applied.desiredChanged) continue;
      result.changed++;
      await requestAfterCommit({ db, reconcile, log }, [{ tenant_id: tenant.appId, guid: sid }]);
    }
    if (result.missing > 0) log.warn({ tenant: tenant.appId, missing: result.missing }, 'twilio does not know some conversations of live groups; left as they are');
    return result;
  }

  /** A conversation Twilio answers 404 for: deleted here only if known and the tenant says so (else counted as missing). */
  #gone(known: boolean, twilio: TwilioRuntime, sid: string, at: Date, result: TwilioSweepResult): GroupSnapshot | null {
    if (!known) return null;
    if (twilio.deleteMissingConversations === true) return { guid: sid, asOf: at, deleted: true };
    result.missing++;
    return null;
  }

  /** A conversation's participants with an identity as members; a conversation only listed and without any makes no group. */
  #listed(known: boolean, participants: ReadonlyArray<{ identity: string | null }>, sid: string, at: Date, result: TwilioSweepResult): GroupSnapshot | null {
    result.conversations++;
    const members: string[] = [];
    for (const { identity } of participants) {
      if (identity === null) continue;
      if (isValidId(identity)) members.push(identity);
      else result.skippedIdentities++;
    }
    if (!known && members.length === 0) return null;
    return { guid: sid, asOf: at, owner: null, members };
  }

  #checkStopped(): void {
    if (this.signal.aborted) throw new Stopped();
  }
}
