/**
 * Registry of Virgil applications, like the Virgil dashboard: an app has an id and one or more app
 * keys (key id + Ed25519 public key). JWTs are verified against these keys. The emulator keeps public
 * keys only; a generated APP_KEY is handed out once and never stored.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { exportPublicKeyBase64, generateEd25519KeyPair, importEd25519PublicKey } from '../virgil/keys.js';
import { badRequest, conflict, ErrorCode, forbidden } from './errors.js';
import type { EmulatorStore } from './store.js';

export interface CreatedApp {
  appId: string;
  appKeyId: string;
  /** Base64 PKCS#8 DER Ed25519 private key (the dashboard's APP_KEY). */
  appKey: string;
}

export interface AppRegistration {
  appId: string;
  appKeyId: string;
  /** Base64 SPKI DER Ed25519 public key. */
  appPublicKey: string;
}

export interface AppSummary {
  appId: string;
  appKeyIds: string[];
  createdAt: string;
}

/** Ids are opaque to the clients; keep them printable and bounded. */
const APP_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class AppRegistry {
  readonly #store: EmulatorStore;
  /** Parsed public keys, keyed by `appId\0appKeyId`; rebuilt lazily from the store. */
  readonly #keyCache = new Map<string, KeyObject>();

  constructor(store: EmulatorStore) {
    this.#store = store;
  }

  create(): CreatedApp {
    const keyPair = generateEd25519KeyPair();
    const app: CreatedApp = {
      appId: randomBytes(16).toString('hex'),
      appKeyId: randomBytes(16).toString('hex'),
      appKey: keyPair.privateKey,
    };
    this.register({ appId: app.appId, appKeyId: app.appKeyId, appPublicKey: keyPair.publicKey });
    return app;
  }

  /**
   * Adds an app, or with `addKeyToExistingApp` another key of an existing app: a key added to an
   * app lets its holder sign tokens as any identity of that app, its service identity included.
   * Re-registering the same key is a no-op either way.
   */
  register(registration: AppRegistration, options: { addKeyToExistingApp?: boolean } = {}): { created: boolean } {
    const { appId, appKeyId, appPublicKey } = registration;
    if (!APP_ID_PATTERN.test(appId)) throw badRequest(ErrorCode.BODY_INVALID, '`appId` must be 1-128 characters of [A-Za-z0-9._-].');
    if (!APP_ID_PATTERN.test(appKeyId)) throw badRequest(ErrorCode.BODY_INVALID, '`appKeyId` must be 1-128 characters of [A-Za-z0-9._-].');
    const publicKey = importEd25519PublicKey(appPublicKey);
    if (!publicKey) throw badRequest(ErrorCode.BODY_INVALID, '`appPublicKey` must be a base64 SPKI DER Ed25519 public key.');
    const canonicalKey = exportPublicKeyBase64(publicKey);

    const apps = this.#store.state.apps;
    let app = apps.get(appId);
    const existingKey = app?.keys.get(appKeyId);
    if (existingKey === canonicalKey) return { created: false };
    if (app && !options.addKeyToExistingApp) {
      throw forbidden(ErrorCode.APP_KEY_ADD_FORBIDDEN, `App ${appId} already exists; adding a key to it requires the management admin token.`);
    }
    if (existingKey !== undefined) throw conflict(ErrorCode.APP_CONFLICT, `App key ${appKeyId} is already registered with another public key.`);
    if (!app) {
      app = { appId, keys: new Map(), createdAt: Date.now() };
      apps.set(appId, app);
    }
    app.keys.set(appKeyId, canonicalKey);
    this.#store.changed();
    return { created: true };
  }

  /** The public key that signs tokens of `appId` with key id `appKeyId`, if registered. */
  publicKeyFor(appId: string, appKeyId: string): KeyObject | undefined {
    const cacheKey = `${appId}\0${appKeyId}`;
    const cached = this.#keyCache.get(cacheKey);
    if (cached) return cached;
    const encoded = this.#store.state.apps.get(appId)?.keys.get(appKeyId);
    const key = encoded === undefined ? null : importEd25519PublicKey(encoded);
    if (!key) return undefined;
    this.#keyCache.set(cacheKey, key);
    return key;
  }

  list(): AppSummary[] {
    return [...this.#store.state.apps.values()].map((app) => ({
      appId: app.appId,
      appKeyIds: [...app.keys.keys()],
      createdAt: new Date(app.createdAt).toISOString(),
    }));
  }

  /** Forgets cached keys, e.g. after the store dropped all apps. */
  clearCache(): void {
    this.#keyCache.clear();
  }
}
