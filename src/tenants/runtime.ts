/**
 * Turns a tenant row into the decoded form the API and the worker use (TenantRuntime) and the
 * public admin view (TenantView). Sealed values are opened here and only here: the service key is
 * kept sealed in the runtime and opened on each use, so API processes that never need it hold no
 * plaintext copy of it.
 */
import type { Keyring } from '../crypto/envelope.js';
import { groupIdentity, userIdentity } from '../crypto/identity.js';
import type { TenantRow } from '../db/schema.js';
import { importEd25519PrivateKey } from '../virgil/keys.js';
import { VirgilJwtSigner } from '../virgil/jwt.js';
import { buildTwilioRuntime, toTwilioView, type TwilioSealedField } from './twilio-settings.js';
import { cometChatRuntime, cometChatView } from './cometchat-settings.js';
import { CALLER_TOKEN_LIFETIME, type TenantRuntime, type TenantView, type UserAuthView } from './types.js';

/** Column names double as the AAD field names of sealed values. */
export type SealedField = 'virgil_app_key' | 'identity_secret' | 'service_private_key' | 'user_auth_key' | 'webhook_basic_password' | 'webhook_signing_secret'
  | 'cometchat_rest_api_key' | TwilioSealedField;

export function openField(keyring: Keyring, row: Pick<TenantRow, 'app_id'>, field: SealedField, sealed: string): string {
  return keyring.open(sealed, { tenant: row.app_id, field });
}

export function buildTenantRuntime(row: TenantRow, keyring: Keyring): TenantRuntime {
  const appKey = importEd25519PrivateKey(openField(keyring, row, 'virgil_app_key', row.virgil_app_key));
  if (!appKey) throw new Error(`tenant ${row.app_id}: stored APP_KEY does not import`);
  const secret = Buffer.from(openField(keyring, row, 'identity_secret', row.identity_secret), 'base64');
  const password = row.webhook_basic_password ? openField(keyring, row, 'webhook_basic_password', row.webhook_basic_password) : null;
  return {
    appId: row.app_id,
    status: row.status,
    configVersion: row.config_version,
    virgilAppId: row.virgil_app_id,
    virgilAppKeyId: row.virgil_app_key_id,
    jwtSigner: new VirgilJwtSigner({ appId: row.virgil_app_id, appKeyId: row.virgil_app_key_id, appKey, ttlSeconds: row.jwt_ttl_seconds }),
    serviceIdentity: row.service_identity,
    serviceCardId: row.service_card_id,
    servicePrivateKey: () => openField(keyring, row, 'service_private_key', row.service_private_key),
    userIdentity: (uid) => userIdentity(secret, uid),
    groupIdentity: (guid) => groupIdentity(secret, guid),
    userAuth: { settings: row.user_auth, key: openField(keyring, row, 'user_auth_key', row.user_auth_key) },
    webhooks: {
      basicAuth: row.webhook_basic_username && password !== null ? { username: row.webhook_basic_username, password } : null,
      signingSecret: row.webhook_signing_secret ? openField(keyring, row, 'webhook_signing_secret', row.webhook_signing_secret) : null,
    },
    rateLimits: row.rate_limits,
    twilio: buildTwilioRuntime(row, (field, sealed) => openField(keyring, row, field, sealed)),
    cometchat: cometChatRuntime(row, (sealed) => openField(keyring, row, 'cometchat_rest_api_key', sealed)),
  };
}

/** The stored caller-auth settings as shown: the jwt mode as before `type` existed, with defaults filled in. */
function userAuthView(settings: TenantRow['user_auth']): UserAuthView {
  if (settings.type === 'jwks' || settings.type === 'cometchat') return settings;
  const { algorithm, issuer, audience, uidClaim, clockToleranceSeconds } = settings;
  const maxTokenLifetimeSeconds = settings.maxTokenLifetimeSeconds ?? CALLER_TOKEN_LIFETIME.defaultSeconds;
  return { algorithm, uidClaim, clockToleranceSeconds, maxTokenLifetimeSeconds, ...(issuer ? { issuer } : {}), ...(audience ? { audience } : {}) };
}

export function toTenantView(row: TenantRow): TenantView {
  return {
    appId: row.app_id,
    status: row.status,
    groupOwnerIdentity: row.service_identity,
    serviceCardId: row.service_card_id,
    virgil: { appId: row.virgil_app_id, appKeyId: row.virgil_app_key_id },
    userAuth: userAuthView(row.user_auth),
    webhooks: {
      basicAuth: row.webhook_basic_username ? { username: row.webhook_basic_username } : null,
      signingSecretConfigured: row.webhook_signing_secret !== null,
    },
    jwtTtlSeconds: row.jwt_ttl_seconds,
    rateLimits: row.rate_limits,
    cometchat: cometChatView(row),
    configVersion: row.config_version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    disabledAt: row.disabled_at ? row.disabled_at.toISOString() : null,
    twilio: toTwilioView(row),
  };
}
