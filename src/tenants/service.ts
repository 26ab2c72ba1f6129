/**
 * Tenant onboarding and administration. Every secret is sealed before it reaches the database; the
 * service identity (an Ed25519 key pair whose card is published on Virgil with the tenant's own
 * credentials) is created here. Each write sends a tenant_changed notification in its transaction.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Keyring } from '../crypto/envelope.js';
import { serviceIdentity } from '../crypto/identity.js';
import type { Db } from '../db/database.js';
import type { Database, TenantRow, TenantUpdate } from '../db/schema.js';
import { conflict, notFound, serviceUnavailable, unprocessable } from '../http/errors.js';
import {
  VirgilCardPublisher, VirgilCredentialsRejectedError, VirgilRequestRejectedError, VirgilUnavailableError,
  type VirgilAppCredentials,
} from '../virgil/cards.js';
import { VirgilJwtSigner } from '../virgil/jwt.js';
import { exportPrivateKeyBase64, exportPublicKeyBase64, importEd25519PrivateKey } from '../virgil/keys.js';
import { TENANT_CHANGED_CHANNEL } from './directory.js';
import { openField, toTenantView, type SealedField } from './runtime.js';
import type { OnboardTenantInput, TenantView, UpdateTenantInput } from './types.js';
import { checkWebhooks, normaliseUserAuth, requireAppKey } from './validation.js';

export interface ServiceCredentials {
  appId: string;
  configVersion: number;
  serviceIdentity: string;
  serviceCardId: string | null;
  /** base64 PKCS#8 Ed25519: keep in memory only. */
  privateKey: string;
  virgilAppId: string;
  virgilAppKeyId: string;
  jwtSigner: VirgilJwtSigner;
}

export interface TenantPage { items: TenantView[]; nextCursor: string | null }

export class TenantService {
  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly virgil: VirgilCardPublisher,
    private readonly log?: Logger,
  ) {}

  #seal(appId: string, field: SealedField, value: string): string {
    return this.keyring.seal(value, { tenant: appId, field });
  }

  async onboard(input: OnboardTenantInput): Promise<TenantView> {
    const appKey = requireAppKey(input.virgil.appKey);
    const userAuth = normaliseUserAuth(input.userAuth);
    checkWebhooks(input.webhooks);
    const exists = await this.db.selectFrom('tenants').select('app_id').where('app_id', '=', input.appId).executeTakeFirst();
    if (exists) throw conflict('TENANT_EXISTS', `Tenant ${input.appId} already exists`);

    const identitySecret = randomBytes(32);
    const identity = serviceIdentity(identitySecret);
    const { privateKey } = generateKeyPairSync('ed25519');
    const app: VirgilAppCredentials = { appId: input.virgil.appId, appKeyId: input.virgil.appKeyId, appKey };
    // Publishing with the tenant's credentials also proves that Virgil accepts them.
    const cardId = await this.#virgilCall(() => this.virgil.publish(app, identity, privateKey));

    const id = input.appId;
    const basic = input.webhooks?.basicAuth ?? null;
    const row = await this.db.transaction().execute(async (trx) => {
      const inserted = await trx.insertInto('tenants').values({
        app_id: id,
        virgil_app_id: input.virgil.appId,
        virgil_app_key_id: input.virgil.appKeyId,
        virgil_app_key: this.#seal(id, 'virgil_app_key', input.virgil.appKey),
        identity_secret: this.#seal(id, 'identity_secret', identitySecret.toString('base64')),
        service_identity: identity,
        service_private_key: this.#seal(id, 'service_private_key', exportPrivateKeyBase64(privateKey)),
        service_public_key: exportPublicKeyBase64(privateKey),
        service_card_id: cardId,
        user_auth: JSON.stringify(userAuth.settings),
        user_auth_key: this.#seal(id, 'user_auth_key', userAuth.key),
        webhook_basic_username: basic?.username ?? null,
        webhook_basic_password: basic ? this.#seal(id, 'webhook_basic_password', basic.password) : null,
        webhook_signing_secret: input.webhooks?.signingSecret ? this.#seal(id, 'webhook_signing_secret', input.webhooks.signingSecret) : null,
        jwt_ttl_seconds: input.jwtTtlSeconds ?? 1200,
        rate_limits: input.rateLimits ? JSON.stringify(input.rateLimits) : null,
      }).onConflict((oc) => oc.column('app_id').doNothing()).returningAll().executeTakeFirst();
      if (!inserted) throw conflict('TENANT_EXISTS', `Tenant ${id} already exists`);
      await notifyChanged(trx, id);
      return inserted;
    });
    this.log?.info({ tenant: id, serviceIdentity: identity }, 'tenant onboarded');
    return toTenantView(row);
  }

  async get(appId: string): Promise<TenantView> {
    return toTenantView(await this.#row(appId));
  }

  async list(opts: { limit: number; cursor?: string }): Promise<TenantPage> {
    let q = this.db.selectFrom('tenants').selectAll().orderBy('app_id').limit(opts.limit + 1);
    if (opts.cursor) q = q.where('app_id', '>', opts.cursor);
    const rows = await q.execute();
    const page = rows.slice(0, opts.limit);
    return { items: page.map(toTenantView), nextCursor: rows.length > opts.limit ? page[page.length - 1].app_id : null };
  }

  async update(appId: string, input: UpdateTenantInput): Promise<TenantView> {
    const current = await this.#row(appId);
    const patch: TenantUpdate = {};

    if (input.virgil) {
      if (input.virgil.appId !== undefined && input.virgil.appId !== current.virgil_app_id) {
        throw unprocessable('VIRGIL_APP_ID_IMMUTABLE', 'virgil.appId cannot change: every card and group of the tenant lives in that Virgil app');
      }
      const appKeyId = input.virgil.appKeyId ?? current.virgil_app_key_id;
      const appKeyB64 = input.virgil.appKey ?? openField(this.keyring, current, 'virgil_app_key', current.virgil_app_key);
      const appKey = requireAppKey(appKeyB64);
      // A rotated key must be accepted by Virgil before it replaces the working one.
      const app: VirgilAppCredentials = { appId: current.virgil_app_id, appKeyId, appKey };
      await this.#virgilCall(() => this.virgil.search(app, current.service_identity, [current.service_identity]));
      patch.virgil_app_key_id = appKeyId;
      if (input.virgil.appKey) patch.virgil_app_key = this.#seal(appId, 'virgil_app_key', input.virgil.appKey);
    }
    if (input.userAuth) {
      const userAuth = normaliseUserAuth(input.userAuth);
      patch.user_auth = JSON.stringify(userAuth.settings);
      patch.user_auth_key = this.#seal(appId, 'user_auth_key', userAuth.key);
    }
    if (input.webhooks) {
      checkWebhooks(input.webhooks);
      const { basicAuth, signingSecret } = input.webhooks;
      if (basicAuth !== undefined) {
        patch.webhook_basic_username = basicAuth?.username ?? null;
        patch.webhook_basic_password = basicAuth ? this.#seal(appId, 'webhook_basic_password', basicAuth.password) : null;
      }
      if (signingSecret !== undefined) {
        patch.webhook_signing_secret = signingSecret ? this.#seal(appId, 'webhook_signing_secret', signingSecret) : null;
      }
    }
    if (input.jwtTtlSeconds !== undefined) patch.jwt_ttl_seconds = input.jwtTtlSeconds;
    if (input.rateLimits !== undefined) patch.rate_limits = input.rateLimits ? JSON.stringify(input.rateLimits) : null;
    if (input.status !== undefined && input.status !== current.status) {
      patch.status = input.status;
      patch.disabled_at = input.status === 'disabled' ? new Date() : null;
    }
    return this.#write(appId, patch);
  }

  disable(appId: string): Promise<TenantView> {
    return this.update(appId, { status: 'disabled' });
  }

  /** What the worker needs to act as the tenant's service identity. */
  async serviceCredentials(appId: string): Promise<ServiceCredentials> {
    const row = await this.#row(appId);
    const appKey = importEd25519PrivateKey(openField(this.keyring, row, 'virgil_app_key', row.virgil_app_key)) as KeyObject;
    return {
      appId,
      configVersion: row.config_version,
      serviceIdentity: row.service_identity,
      serviceCardId: row.service_card_id,
      privateKey: openField(this.keyring, row, 'service_private_key', row.service_private_key),
      virgilAppId: row.virgil_app_id,
      virgilAppKeyId: row.virgil_app_key_id,
      jwtSigner: new VirgilJwtSigner({ appId: row.virgil_app_id, appKeyId: row.virgil_app_key_id, appKey, ttlSeconds: 600 }),
    };
  }

  /** Records the service card id after the worker (re)published it. */
  async setServiceCardId(appId: string, cardId: string): Promise<void> {
    await this.db.updateTable('tenants').set({ service_card_id: cardId }).where('app_id', '=', appId).execute();
  }

  async #row(appId: string): Promise<TenantRow> {
    const row = await this.db.selectFrom('tenants').selectAll().where('app_id', '=', appId).executeTakeFirst();
    if (!row) throw notFound('TENANT_NOT_FOUND', `Tenant ${appId} does not exist`);
    return row;
  }

  async #write(appId: string, patch: TenantUpdate): Promise<TenantView> {
    const row = await this.db.transaction().execute(async (trx) => {
      const updated = await trx.updateTable('tenants')
        .set({ ...patch, config_version: sql`config_version + 1`, updated_at: sql`now()` })
        .where('app_id', '=', appId).returningAll().executeTakeFirst();
      if (!updated) throw notFound('TENANT_NOT_FOUND', `Tenant ${appId} does not exist`);
      await notifyChanged(trx, appId);
      return updated;
    });
    this.log?.info({ tenant: appId, fields: Object.keys(patch) }, 'tenant updated');
    return toTenantView(row);
  }

  async #virgilCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof VirgilCredentialsRejectedError) {
        throw unprocessable('VIRGIL_CREDENTIALS_REJECTED', 'Virgil rejected the app credentials (check APP_ID, APP_KEY_ID and APP_KEY)');
      }
      if (err instanceof VirgilRequestRejectedError) throw unprocessable('VIRGIL_REQUEST_REJECTED', err.message);
      if (err instanceof VirgilUnavailableError) throw serviceUnavailable('VIRGIL_UNAVAILABLE', 'Virgil Cloud is unavailable; try again later');
      throw err;
    }
  }
}

/** Delivered to every listening process when the transaction commits. */
export async function notifyChanged(trx: Transaction<Database>, appId: string): Promise<void> {
  await sql`SELECT pg_notify(${TENANT_CHANGED_CHANNEL}, ${appId})`.execute(trx);
}
