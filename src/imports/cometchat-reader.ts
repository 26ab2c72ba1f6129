/**
 * Reading a tenant's groups from CometChat's REST API as authoritative snapshots, for CometChat
 * imports and drift repair.
 *
 * - One snapshot per group: its members (every page of `GET /groups/{guid}/members`), its owner,
 *   and `asOf` = the group's `updatedAt` (else `createdAt`) from the listing, on CometChat's own
 *   clock — the time of the group's last change, which is also the time its membership webhooks
 *   carry — but never later than when its members were read. A group that vanished between the
 *   listing and the members read (404) is a deletion snapshot at that time.
 * - Requests to one CometChat app share one pace per process (`requestsPerMinute` of the tenant's
 *   settings) and retry 429 (after Retry-After) and 5xx bursts (rest-client.ts).
 * - Two ways through the groups: every group by page number (sorted by creation, so groups created
 *   meanwhile land on later pages; when the total shrinks between pages — a deletion shifted the
 *   rest back — the previous page is read again so nothing is skipped), and the groups changed since
 *   an `updatedAt` cursor, walked as a keyset: each full page moves the cursor to one second before
 *   its last group's updatedAt (so groups sharing that second are read again rather than missed,
 *   whether CometChat's filter is inclusive or not), within one second by page number.
 */
import type { GroupSnapshot } from '../groups/snapshot.js';
import { checkSnapshot } from '../groups/snapshot.js';
import { DomainError } from '../lib/errors.js';
import {
  BACKGROUND_RETRY, cometChatBaseUrl, CometChatRestClient, RequestPacer, type CometChatGroup, type RetryPolicy,
} from '../cometchat/rest-client.js';
import type { CometChatRuntime } from '../tenants/types.js';
import type { ImportError } from './import-repository.js';

export interface CometChatReadOptions {
  /** COMETCHAT_API_URL template. */
  apiUrl: string;
  /** Groups and members per page (CometChat's maximum, 1000, unless lowered). */
  perPage: number;
  /** Groups whose members are read at once. */
  concurrency: number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Default BACKGROUND_RETRY. */
  retry?: RetryPolicy;
}

/** Clients per tenant, sharing one pace per CometChat app in this process. */
export class CometChatClients {
  readonly #pacers = new Map<string, { perMinute: number; pacer: RequestPacer }>();

  constructor(private readonly opts: CometChatReadOptions) {}

  get perPage(): number {
    return this.opts.perPage;
  }

  client(cc: CometChatRuntime, signal?: AbortSignal): CometChatRestClient {
    let entry = this.#pacers.get(cc.appId);
    if (!entry || entry.perMinute !== cc.requestsPerMinute) {
      entry = { perMinute: cc.requestsPerMinute, pacer: new RequestPacer(cc.requestsPerMinute, this.opts.now) };
      this.#pacers.set(cc.appId, entry);
    }
    return new CometChatRestClient({
      baseUrl: cometChatBaseUrl(this.opts.apiUrl, cc.appId, cc.region),
      apiKey: cc.restApiKey,
      retry: this.opts.retry ?? BACKGROUND_RETRY,
      pacer: entry.pacer,
      signal,
      sleep: this.opts.sleep,
    });
  }

  /** Snapshots of `groups` (or why a group could not be taken), in their order. */
  async snapshots(client: CometChatRestClient, groups: CometChatGroup[]): Promise<Array<GroupSnapshot | ImportError>> {
    const now = this.opts.now ?? Date.now;
    const results: Array<GroupSnapshot | ImportError> = new Array(groups.length);
    let next = 0;
    const work = async () => {
      while (next < groups.length) {
        const i = next++;
        const group = groups[i];
        const readAt = now();
        const changedAt = group.updatedAt ?? group.createdAt;
        const asOf = new Date(Math.min(changedAt === null ? readAt : changedAt * 1000, readAt)).toISOString();
        const members = await client.allMembers(group.guid, this.opts.perPage);
        try {
          results[i] = members === null
            ? checkSnapshot({ guid: group.guid, asOf, deleted: true }, readAt)
            : checkSnapshot({ guid: group.guid, asOf, owner: group.owner, members }, readAt);
        } catch (err) {
          if (!(err instanceof DomainError)) throw err;
          results[i] = { line: null, guid: group.guid.slice(0, 255), code: err.code, message: err.message };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, groups.length) }, work));
    return results;
  }
}

export interface PagePosition { page: number; total: number | null }

/**
 * One page of every group, and where to go next (null: done). `from.total` is the total reported
 * with the page before it.
 */
export async function listAllGroups(client: CometChatRestClient, from: PagePosition, perPage: number): Promise<{ groups: CometChatGroup[]; skipped: number; next: PagePosition | null; total: number | null }> {
  const page = await client.listGroups({ page: from.page, perPage });
  const { total } = page;
  // The total shrank since the previous page: groups were deleted, the rest moved back; read the previous page again.
  if (from.total !== null && total !== null && total < from.total && from.page > 1) {
    return { groups: [], skipped: 0, next: { page: from.page - 1, total }, total };
  }
  const done = page.items.length + page.skipped < perPage || from.page >= page.totalPages;
  return { groups: page.items, skipped: page.skipped, next: done ? null : { page: from.page + 1, total }, total };
}

export interface KeysetPosition { cursor: number; page: number }

/**
 * One page of the groups changed after `from.cursor` (unix seconds), and where to go next (null:
 * done), plus the cursor the next sweep may start from.
 */
export async function listChangedGroups(client: CometChatRestClient, from: KeysetPosition, perPage: number): Promise<{ groups: CometChatGroup[]; skipped: number; next: KeysetPosition | null }> {
  const page = await client.listGroups({ page: from.page, perPage, updatedAfter: from.cursor });
  const full = page.items.length + page.skipped >= perPage;
  if (!full) return { groups: page.items, skipped: page.skipped, next: null };
  const last = page.items.at(-1)?.updatedAt ?? null;
  const next = last !== null && last - 1 > from.cursor ? { cursor: last - 1, page: 1 } : { cursor: from.cursor, page: from.page + 1 };
  return { groups: page.items, skipped: page.skipped, next };
}
