/**
 * Each tenant's service identity as an E3Kit client: the Virgil identity that creates and owns every
 * group of the tenant. One EThree instance per tenant per process, built on first use and rebuilt
 * when the tenant's config_version changes (an APP_KEY rotation changes how its tokens are signed).
 *
 *  - Tokens: Virgil JWTs for the service identity, signed with the tenant's APP_KEY.
 *  - Private key: SealedServiceKeyStorage, opened from the tenant's sealed value (nothing on disk).
 *  - Group storage: E3Kit insists on a LevelDB directory; each instance gets its own directory
 *    under a per-process temporary folder (LevelDB allows one handle per directory per process),
 *    removed on close. It holds only a cache of group tickets; Keyknox is the source of truth.
 *  - apiUrl: omitted for Virgil Cloud (E3Kit then verifies Virgil's card signatures), set for any
 *    other URL (the emulator), where self-signatures are re-enabled.
 *
 * The caller hands in the tenant it already looked up (the tenant directory's runtime fits
 * ServiceIdentityTenant), so a reconcile run reads its tenant once. Uses are leased: an instance
 * retired by a config change is closed once its last job is done.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { DomainError, misconfigured } from '../lib/errors.js';
import { closeGroupStorage, enableSelfSignatureVerification, loadE3kit, type EThreeInstance } from './e3kit-runtime.js';
import { VIRGIL_CLOUD_URL } from './cards.js';
import { SealedServiceKeyStorage } from './key-storage.js';

export type EThree = EThreeInstance;
export type VirgilCard = Parameters<EThree['loadGroup']>[1];

/** What a service identity is built from (src/tenants' TenantRuntime has these). */
export interface ServiceIdentityTenant {
  readonly appId: string;
  readonly configVersion: number;
  readonly serviceIdentity: string;
  readonly jwtSigner: { sign(identity: string): { token: string } };
  /** base64 PKCS#8; opened on each call, kept by nobody. */
  servicePrivateKey(): string;
}

export interface ServiceIdentity {
  readonly tenantId: string;
  readonly identity: string;
  readonly configVersion: number;
  readonly eThree: EThree;
  /** The service identity's own card (published if it is missing on Virgil). */
  ownCard(): Promise<VirgilCard>;
}

export interface ServiceIdentitiesOptions {
  virgilApiUrl: string;
  log: Logger;
  /** Records the card id after the worker (re)published a missing service card. */
  onCardPublished(tenantId: string, cardId: string): Promise<void>;
}

interface Entry {
  configVersion: number;
  ready: Promise<Instance>;
  leases: number;
  retired: boolean;
}

/** How long a retired instance stays open after its last use (E3Kit writes its cache without awaiting). */
const RETIRE_GRACE_MS = 2_000;

export class ServiceIdentities {
  readonly #entries = new Map<string, Entry>();
  readonly #closing = new Set<Promise<void>>();
  #baseDir: string | null = null;
  #closed = false;

  constructor(private readonly opts: ServiceIdentitiesOptions) {}

  /** Runs `fn` with the tenant's service identity; the instance is not closed while `fn` runs. */
  async use<T>(tenant: ServiceIdentityTenant, fn: (svc: ServiceIdentity) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('service identities are closed');
    const tenantId = tenant.appId;
    let entry = this.#entries.get(tenantId);
    if (entry && entry.configVersion !== tenant.configVersion) {
      this.#retire(tenantId, entry);
      entry = undefined;
    }
    if (!entry) {
      const created: Entry = { configVersion: tenant.configVersion, leases: 0, retired: false, ready: this.#build(tenant) };
      created.ready.catch(() => { if (this.#entries.get(tenantId) === created) this.#entries.delete(tenantId); });
      this.#entries.set(tenantId, created);
      entry = created;
    }
    entry.leases++;
    try {
      const instance = await entry.ready;
      return await fn(instance);
    } finally {
      entry.leases--;
      if (entry.retired && entry.leases === 0) this.#closeLater(entry);
    }
  }

  #retire(tenantId: string, entry: Entry) {
    this.#entries.delete(tenantId);
    entry.retired = true;
    if (entry.leases === 0) this.#closeLater(entry);
  }

  #closeLater(entry: Entry) {
    const closing = new Promise<void>((resolve) => setTimeout(resolve, RETIRE_GRACE_MS).unref())
      .then(() => entry.ready)
      .then((instance) => instance.close(), () => {})
      .finally(() => this.#closing.delete(closing));
    this.#closing.add(closing);
  }

  #groupStorageDir(tenantId: string, identity: string): string {
    this.#baseDir ??= mkdtempSync(path.join(tmpdir(), 'e2ee-group-cache-'));
    const name = createHash('sha256').update(`${tenantId}\0${identity}`).digest('hex').slice(0, 24);
    return path.join(this.#baseDir, `${name}-${randomBytes(4).toString('hex')}`);
  }

  async #build(tenant: ServiceIdentityTenant): Promise<Instance> {
    const e3kit = await loadE3kit();
    const { appId: tenantId, serviceIdentity: identity, jwtSigner: signer, configVersion } = tenant;
    const privateKey = async () => openServiceKey(tenant);
    const keyStorage = new SealedServiceKeyStorage(identity, privateKey);
    const groupStorageName = this.#groupStorageDir(tenantId, identity);
    const apiUrl = this.opts.virgilApiUrl;
    const eThree = await e3kit.EThree.initialize(async () => signer.sign(identity).token, {
      keyEntryStorage: keyStorage,
      groupStorageName,
      // Left unset for Virgil Cloud: E3Kit then uses its built-in URL and verifies Virgil's card
      // signatures; any other URL (the emulator) turns those checks off.
      ...(apiUrl === VIRGIL_CLOUD_URL ? {} : { apiUrl }),
    });
    if (apiUrl !== VIRGIL_CLOUD_URL) enableSelfSignatureVerification(eThree);
    this.opts.log.info({ tenantId, configVersion }, 'service identity ready');
    return new Instance({
      tenantId, identity, configVersion, eThree, groupStorageName, privateKey,
      onCardPublished: (cardId) => this.opts.onCardPublished(tenantId, cardId),
      log: this.opts.log,
    });
  }

  /** Closes every instance (after the jobs using them finished) and removes the group caches. */
  async close(): Promise<void> {
    this.#closed = true;
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(entries.map((entry) => entry.ready.then((instance) => instance.close(), () => {})));
    await Promise.all([...this.#closing]);
    if (this.#baseDir) rmSync(this.#baseDir, { recursive: true, force: true });
    this.#baseDir = null;
  }
}

/** The sealed service key, opened; a key that does not open is our configuration's fault, not Virgil's. */
function openServiceKey(tenant: ServiceIdentityTenant): string {
  try {
    return tenant.servicePrivateKey();
  } catch (err) {
    if (err instanceof DomainError) throw err;
    throw misconfigured('SERVICE_KEY_UNAVAILABLE', `the service key of ${tenant.appId} does not open: ${(err as Error).message}`);
  }
}

class Instance implements ServiceIdentity {
  readonly tenantId: string;
  readonly identity: string;
  readonly configVersion: number;
  readonly eThree: EThree;
  #card: Promise<VirgilCard> | null = null;

  constructor(private readonly opts: {
    tenantId: string; identity: string; configVersion: number; eThree: EThree; groupStorageName: string;
    privateKey: () => Promise<string>; onCardPublished: (cardId: string) => Promise<void>; log: Logger;
  }) {
    this.tenantId = opts.tenantId;
    this.identity = opts.identity;
    this.configVersion = opts.configVersion;
    this.eThree = opts.eThree;
  }

  ownCard(): Promise<VirgilCard> {
    this.#card ??= this.#findOrPublishCard().catch((err) => {
      this.#card = null;
      throw err;
    });
    return this.#card;
  }

  async #findOrPublishCard(): Promise<VirgilCard> {
    const { eThree } = this;
    const crypto = eThree.virgilCrypto;
    const privateKey = crypto.importPrivateKey({ value: await this.opts.privateKey(), encoding: 'base64' });
    const publicKey = crypto.extractPublicKey(privateKey);
    const ours = crypto.exportPublicKey(publicKey).toString('base64');
    const matching = (cards: VirgilCard[]) => cards.find((card) => crypto.exportPublicKey(card.publicKey).toString('base64') === ours);

    let cards = await eThree.cardManager.searchCards(this.identity);
    if (cards.length === 0) {
      // Normally published at onboarding; tenants onboarded before that (or whose publish failed)
      // get it here, with the stored key pair (E3Kit would otherwise generate a new key).
      this.opts.log.info({ tenantId: this.tenantId }, 'publishing the missing service identity card');
      await eThree.register({ privateKey, publicKey });
      cards = await eThree.cardManager.searchCards(this.identity);
      const card = matching(cards);
      if (card) await this.opts.onCardPublished(card.id).catch(() => {});
    }
    const card = matching(cards);
    if (!card) throw misconfigured('SERVICE_CARD_MISMATCH', 'the service identity card on Virgil does not match the stored service key');
    return card;
  }

  /** Closes the LevelDB handle and removes its directory. */
  async close(): Promise<void> {
    await closeGroupStorage(this.eThree);
    rmSync(this.opts.groupStorageName, { recursive: true, force: true });
  }
}
