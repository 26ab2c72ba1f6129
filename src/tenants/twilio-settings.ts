/**
 * A tenant's Twilio Conversations settings: the checks, the columns they are stored in (secrets
 * sealed, one column each), the decoded runtime part and the admin view. Everything Twilio-specific
 * about a tenant row lives here; service.ts, runtime.ts and rewrap.ts call in.
 *
 *   accountSid (AC…), authToken (+ secondaryAuthToken while rotating), apiKeySid (SK…) and
 *   apiKeySecret, conversationsServiceSid (IS…), webhookUrl (the exact public URL Twilio calls),
 *   accessTokenTtlSeconds (default 3,600, at most 86,400), deleteMissingConversations (default false:
 *   the drift sweep deletes a live group whose conversation Twilio answers 404 for).
 *
 * On onboarding the object is complete. A PATCH merges field by field (absent: unchanged;
 * `secondaryAuthToken: null` ends a rotation; `twilio: null` removes the whole setting), and the
 * result must be complete.
 */
import type { TenantRow, TenantUpdate, TwilioSettings } from '../db/schema.js';
import { unprocessable } from '../lib/errors.js';
import { ACCESS_TOKEN_DEFAULT_TTL_SECONDS, ACCESS_TOKEN_MAX_TTL_SECONDS, TwilioAccessTokenSigner } from '../twilio/access-token.js';
import { isSid } from '../twilio/sids.js';

export const TWILIO_SEALED_FIELDS = ['twilio_auth_token', 'twilio_secondary_auth_token', 'twilio_api_key_secret'] as const;
export type TwilioSealedField = (typeof TWILIO_SEALED_FIELDS)[number];

export const TWILIO_ACCESS_TOKEN_TTL = Object.freeze({ defaultSeconds: ACCESS_TOKEN_DEFAULT_TTL_SECONDS, minSeconds: 60, maxSeconds: ACCESS_TOKEN_MAX_TTL_SECONDS });

export interface TwilioSettingsInput {
  accountSid: string;
  authToken: string;
  secondaryAuthToken?: string | null;
  apiKeySid: string;
  apiKeySecret: string;
  conversationsServiceSid: string;
  webhookUrl: string;
  accessTokenTtlSeconds?: number;
  deleteMissingConversations?: boolean;
}

export type TwilioSettingsPatch = Partial<TwilioSettingsInput>;

/** The admin view: no secret, only whether each one is set. */
export interface TwilioView extends TwilioSettings {
  secondaryAuthTokenConfigured: boolean;
}

/** Decoded for the API and the worker. */
export interface TwilioRuntime extends TwilioSettings {
  /** Webhook signing keys: the auth token, then the secondary one while it rotates in. */
  authTokens: string[];
  apiKeySecret: string;
  /** Mints Access Tokens with a Chat grant for the tenant's Conversations service. */
  accessTokens: TwilioAccessTokenSigner;
}

export type Seal = (field: TwilioSealedField, value: string) => string;
export type Open = (field: TwilioSealedField, sealed: string) => string;

const incomplete = (missing: string[]) => unprocessable('TWILIO_SETTINGS_INCOMPLETE', `twilio is missing ${missing.join(', ')}`, { missing });

function checkSettings(s: TwilioSettings): void {
  const wrongSid = ([['accountSid', 'AC'], ['apiKeySid', 'SK'], ['conversationsServiceSid', 'IS']] as const)
    .find(([field, prefix]) => !isSid(s[field], prefix));
  if (wrongSid) throw unprocessable('INVALID_TWILIO_SID', `twilio.${wrongSid[0]} must be a Twilio SID starting with ${wrongSid[1]} and 32 hex digits`);
  let url: URL;
  try {
    url = new URL(s.webhookUrl);
  } catch {
    throw unprocessable('INVALID_TWILIO_WEBHOOK_URL', 'twilio.webhookUrl is not an absolute URL');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || s.webhookUrl.includes('#') || url.username || url.password) {
    // A fragment (Twilio's connection overrides) and credentials are not part of what Twilio requests.
    throw unprocessable('INVALID_TWILIO_WEBHOOK_URL', 'twilio.webhookUrl must be the http(s) URL Twilio calls, without #fragment or user:password@');
  }
  const ttl = s.accessTokenTtlSeconds;
  if (!Number.isInteger(ttl) || ttl < TWILIO_ACCESS_TOKEN_TTL.minSeconds || ttl > TWILIO_ACCESS_TOKEN_TTL.maxSeconds) {
    throw unprocessable('INVALID_TWILIO_TOKEN_TTL', `twilio.accessTokenTtlSeconds must be an integer from ${TWILIO_ACCESS_TOKEN_TTL.minSeconds} to ${TWILIO_ACCESS_TOKEN_TTL.maxSeconds}`);
  }
}

const REQUIRED = ['accountSid', 'apiKeySid', 'conversationsServiceSid', 'webhookUrl'] as const;

/** Complete settings (REQUIRED checked by the caller), with the default TTL. */
function settingsOf(merged: Partial<TwilioSettings>): TwilioSettings {
  const settings: TwilioSettings = {
    accountSid: merged.accountSid!,
    apiKeySid: merged.apiKeySid!,
    conversationsServiceSid: merged.conversationsServiceSid!,
    webhookUrl: merged.webhookUrl!,
    accessTokenTtlSeconds: merged.accessTokenTtlSeconds ?? TWILIO_ACCESS_TOKEN_TTL.defaultSeconds,
    deleteMissingConversations: merged.deleteMissingConversations ?? false,
  };
  checkSettings(settings);
  return settings;
}

const publicPart = (p: TwilioSettingsPatch): Partial<TwilioSettings> => Object.fromEntries(
  (['accountSid', 'apiKeySid', 'conversationsServiceSid', 'webhookUrl', 'accessTokenTtlSeconds', 'deleteMissingConversations'] as const)
    .filter((field) => p[field] !== undefined).map((field) => [field, p[field]]),
);

/** The columns of a tenant onboarded with `input` (all null without it). */
export function twilioColumnsForOnboarding(input: TwilioSettingsInput | undefined, seal: Seal): Pick<TenantUpdate, 'twilio' | TwilioSealedField> {
  if (input === undefined) return {};
  return twilioColumnsForUpdate({ twilio: null, twilio_auth_token: null, twilio_api_key_secret: null }, input, seal);
}

/** The columns a PATCH's `twilio` changes, given the row as it is. */
export function twilioColumnsForUpdate(
  current: Pick<TenantRow, 'twilio' | 'twilio_auth_token' | 'twilio_api_key_secret'>,
  patch: TwilioSettingsPatch | null,
  seal: Seal,
): Pick<TenantUpdate, 'twilio' | TwilioSealedField> {
  if (patch === null) return { twilio: null, twilio_auth_token: null, twilio_secondary_auth_token: null, twilio_api_key_secret: null };
  const merged = { ...(current.twilio ?? {}), ...publicPart(patch) };
  const missing = [
    ...REQUIRED.filter((field) => merged[field] === undefined).map((field) => `twilio.${field}`),
    ...(patch.authToken === undefined && current.twilio_auth_token === null ? ['twilio.authToken'] : []),
    ...(patch.apiKeySecret === undefined && current.twilio_api_key_secret === null ? ['twilio.apiKeySecret'] : []),
  ];
  if (missing.length > 0) throw incomplete(missing);
  const settings = settingsOf(merged);
  const columns: Pick<TenantUpdate, 'twilio' | TwilioSealedField> = { twilio: JSON.stringify(settings) };
  if (patch.authToken !== undefined) columns.twilio_auth_token = seal('twilio_auth_token', patch.authToken);
  if (patch.apiKeySecret !== undefined) columns.twilio_api_key_secret = seal('twilio_api_key_secret', patch.apiKeySecret);
  if (patch.secondaryAuthToken !== undefined) {
    columns.twilio_secondary_auth_token = patch.secondaryAuthToken === null ? null : seal('twilio_secondary_auth_token', patch.secondaryAuthToken);
  }
  return columns;
}

export function buildTwilioRuntime(row: TenantRow, open: Open): TwilioRuntime | null {
  const settings = row.twilio;
  if (settings === null || row.twilio_auth_token === null || row.twilio_api_key_secret === null) return null;
  const apiKeySecret = open('twilio_api_key_secret', row.twilio_api_key_secret);
  const authTokens = [open('twilio_auth_token', row.twilio_auth_token)];
  if (row.twilio_secondary_auth_token !== null) authTokens.push(open('twilio_secondary_auth_token', row.twilio_secondary_auth_token));
  return {
    ...settings,
    authTokens,
    apiKeySecret,
    accessTokens: new TwilioAccessTokenSigner({
      accountSid: settings.accountSid,
      apiKeySid: settings.apiKeySid,
      apiKeySecret,
      serviceSid: settings.conversationsServiceSid,
      ttlSeconds: settings.accessTokenTtlSeconds,
    }),
  };
}

export function toTwilioView(row: TenantRow): TwilioView | null {
  if (row.twilio === null) return null;
  const { accountSid, apiKeySid, conversationsServiceSid, webhookUrl, accessTokenTtlSeconds } = row.twilio;
  return {
    accountSid, apiKeySid, conversationsServiceSid, webhookUrl, accessTokenTtlSeconds,
    deleteMissingConversations: row.twilio.deleteMissingConversations ?? false,
    secondaryAuthTokenConfigured: row.twilio_secondary_auth_token !== null,
  };
}
