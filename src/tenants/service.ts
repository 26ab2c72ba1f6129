/**
 * Tenant onboarding and administration. Every secret is sealed before it reaches the database; the
 * service identity (an Ed25519 key pair whose card is published on Virgil with the tenant's own
 * credentials) is created here. Rows are read and written through tenant-repository.ts, which
 * tells every process about each change.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Keyring } from '../crypto/envelope.js';
import { serviceIdentity } from '../crypto/identity.js';
import type { Db } from '../db/database.js';
import type { TenantRow, TenantUpdate, UserAuthSettings } from '../db/schema.js';
import { conflict, notFound, unprocessable } from '../lib/errors.js';
import type { VirgilAppCredentials, VirgilCardPublisher } from '../virgil/cards.js';
import { exportPrivateKeyBase64, exportPublicKeyBase64 } from '../virgil/keys.js';
import { openField, toTenantView, type SealedField } from './runtime.js';
import { findTenant, insertTenant, listTenants, tenantExists, updateTenant } from './tenant-repository.js';
import { twilioColumnsForOnboarding, twilioColumnsForUpdate } from './twilio-settings.js';
import type { OnboardTenantInput, TenantView, UpdateTenantInput } from './types.js';
import { checkWebhooks, normaliseUserAuth, requireAppKey } from './validation.js';
import { normaliseCometChat } from './cometchat-settings.js';

/** The cometchat caller-auth mode checks tokens with the tenant's CometChat REST key. */
function requireCometChatForAuth(userAuth: UserAuthSettings, hasCometChat: boolean): void {
  if (userAuth.type === 'cometchat' && !hasCometChat) {
    throw unprocessable('COMETCHAT_NOT_CONFIGURED', 'userAuth of type cometchat needs the tenant\'s cometchat settings (region and REST API key)');
  }
}

export interface TenantPage { items: TenantView[]; nextCursor: string | null }

const tenantNotFound = (appId: string) => notFound('TENANT_NOT_FOUND', `Tenant ${appId} does not exist`);
const tenantExistsError = (appId: string) => conflict('TENANT_EXISTS', `Tenant ${appId} already exists`);

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
    const twilio = twilioColumnsForOnboarding(input.twilio, (field, value) => this.#seal(input.appId, field, value));
    const cometchat = input.cometchat ? normaliseCometChat(input.appId, input.cometchat, false) : null;
    requireCometChatForAuth(userAuth.settings, cometchat !== null);
    if (await tenantExists(this.db, input.appId)) throw tenantExistsError(input.appId);

    const identitySecret = randomBytes(32);
    const identity = serviceIdentity(identitySecret);
    const { privateKey } = generateKeyPairSync('ed25519');
    const app: VirgilAppCredentials = { appId: input.virgil.appId, appKeyId: input.virgil.appKeyId, appKey };
    // Publishing with the tenant's credentials also proves that Virgil accepts them.
    const cardId = await this.virgil.publish(app, identity, privateKey);

    const id = input.appId;
    const basic = input.webhooks?.basicAuth ?? null;
    const row = await insertTenant(this.db, {
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
      ...twilio,
      cometchat: cometchat ? JSON.stringify(cometchat) : null,
      cometchat_rest_api_key: cometchat ? this.#seal(id, 'cometchat_rest_api_key', input.cometchat!.restApiKey!) : null,
    });
    if (!row) throw tenantExistsError(id);
    this.log?.info({ tenant: id, serviceIdentity: identity }, 'tenant onboarded');
    return toTenantView(row);
  }

  async get(appId: string): Promise<TenantView> {
    return toTenantView(await this.#row(appId));
  }

  async list(opts: { limit: number; cursor?: string }): Promise<TenantPage> {
    const rows = await listTenants(this.db, { limit: opts.limit, after: opts.cursor });
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
      await this.virgil.search(app, current.service_identity, [current.service_identity]);
      patch.virgil_app_key_id = appKeyId;
      if (input.virgil.appKey) patch.virgil_app_key = this.#seal(appId, 'virgil_app_key', input.virgil.appKey);
    }
    const userAuth = input.userAuth ? normaliseUserAuth(input.userAuth) : null;
    if (userAuth) {
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
    if (input.cometchat !== undefined) {
      const settings = input.cometchat ? normaliseCometChat(appId, input.cometchat, current.cometchat_rest_api_key !== null) : null;
      patch.cometchat = settings ? JSON.stringify(settings) : null;
      if (!settings) patch.cometchat_rest_api_key = null;
      else if (input.cometchat!.restApiKey !== undefined) patch.cometchat_rest_api_key = this.#seal(appId, 'cometchat_rest_api_key', input.cometchat!.restApiKey);
    }
    requireCometChatForAuth(
      userAuth ? userAuth.settings : current.user_auth,
      input.cometchat !== undefined ? input.cometchat !== null : current.cometchat !== null,
    );
    if (input.jwtTtlSeconds !== undefined) patch.jwt_ttl_seconds = input.jwtTtlSeconds;
    if (input.rateLimits !== undefined) patch.rate_limits = input.rateLimits ? JSON.stringify(input.rateLimits) : null;
    if (input.twilio !== undefined) Object.assign(patch, twilioColumnsForUpdate(current, input.twilio, (field, value) => this.#seal(appId, field, value)));
    if (input.status !== undefined && input.status !== current.status) {
      patch.status = input.status;
      patch.disabled_at = input.status === 'disabled' ? new Date() : null;
    }
    const row = await updateTenant(this.db, appId, patch);
    if (!row) throw tenantNotFound(appId);
    this.log?.info({ tenant: appId, fields: Object.keys(patch) }, 'tenant updated');
    return toTenantView(row);
  }

  disable(appId: string): Promise<TenantView> {
    return this.update(appId, { status: 'disabled' });
  }

  async #row(appId: string): Promise<TenantRow> {
    const row = await findTenant(this.db, appId);
    if (!row) throw tenantNotFound(appId);
    return row;
  }
}
