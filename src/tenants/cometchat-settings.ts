/**
 * A tenant's CometChat REST access: `cometchat: {"appId"?, "region", "restApiKey", "requestsPerMinute"?,
 * "driftRepair"?: {"intervalSeconds", "deletions"?} | null}`. Used by CometChat imports, drift repair and the
 * cometchat caller-auth mode. The REST API key is sealed in its own column
 * (`cometchat_rest_api_key`) and never shown; the view says whether one is configured.
 *
 * - appId: CometChat's app id, which is part of the API host name; defaults to the tenant's app id
 *   (the `appId` header CometChat SDKs send is that same id).
 * - requestsPerMinute: the pace of background reads, per process (default 5,000: half of
 *   CometChat's 10,000 core requests a minute, leaving the app's own backend room).
 * - driftRepair.intervalSeconds: re-read groups changed since the last sweep this often (60 to
 *   86,400); absent or null: off. driftRepair.deletions (default false): also delete the tenant's
 *   live groups CometChat does not know (for tenants whose groups all come from CometChat).
 */
import type { CometChatSettings, TenantRow } from '../db/schema.js';
import { unprocessable } from '../lib/errors.js';
import { COMETCHAT_APP_ID_PATTERN } from '../cometchat/rest-client.js';
import type { CometChatInput, CometChatRuntime, CometChatView } from './types.js';

export const DEFAULT_COMETCHAT_REQUESTS_PER_MINUTE = 5_000;

/** The settings to store, from an input and (on update) the stored ones. */
export function normaliseCometChat(tenantAppId: string, input: CometChatInput, hasStoredKey: boolean): CometChatSettings {
  const appId = input.appId ?? tenantAppId;
  if (!COMETCHAT_APP_ID_PATTERN.test(appId)) {
    throw unprocessable('INVALID_COMETCHAT_SETTINGS', 'cometchat.appId is required when the tenant app id is not a valid CometChat app id (letters, digits and hyphens)');
  }
  if (input.restApiKey === undefined && !hasStoredKey) {
    throw unprocessable('INVALID_COMETCHAT_SETTINGS', 'cometchat.restApiKey (a full-access REST API key) is required');
  }
  return {
    appId,
    region: input.region,
    requestsPerMinute: input.requestsPerMinute ?? DEFAULT_COMETCHAT_REQUESTS_PER_MINUTE,
    driftRepairIntervalSeconds: input.driftRepair?.intervalSeconds ?? null,
    driftRepairDeletions: input.driftRepair?.deletions ?? false,
  };
}

export function cometChatView(row: Pick<TenantRow, 'cometchat' | 'cometchat_rest_api_key'>): CometChatView | null {
  const settings = row.cometchat;
  if (!settings) return null;
  return {
    appId: settings.appId,
    region: settings.region,
    restApiKeyConfigured: row.cometchat_rest_api_key !== null,
    requestsPerMinute: settings.requestsPerMinute,
    driftRepair: settings.driftRepairIntervalSeconds === null
      ? null
      : { intervalSeconds: settings.driftRepairIntervalSeconds, deletions: settings.driftRepairDeletions ?? false },
  };
}

export function cometChatRuntime(row: Pick<TenantRow, 'cometchat' | 'cometchat_rest_api_key'>, open: (sealed: string) => string): CometChatRuntime | null {
  if (!row.cometchat || !row.cometchat_rest_api_key) return null;
  return { ...row.cometchat, restApiKey: open(row.cometchat_rest_api_key) };
}
