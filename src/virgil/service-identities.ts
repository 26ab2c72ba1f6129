/**
 * Each tenant's service identity as an E3Kit client: the Virgil identity that creates and owns every
 * group of the tenant. A worker keeps at most `maxInstances` of them (least recently used closed
 * first, rebuilt on demand), and rebuilds one when the tenant's config_version changes (an APP_KEY
 * rotation changes how its tokens are signed).
 *
 *  - Tokens: Virgil JWTs for the service identity, signed with the tenant's APP_KEY.
 *  - Private key: SealedServiceKeyStorage, opened from the tenant's sealed value (nothing on disk).
 *  - Group storage: a bounded in-memory store per instance (group-store.ts): no folder, no file
 *    descriptor. Keyknox is the source of truth, and E3Kit's local copies of groups are not even
 *    written (the worker never reads them; each costs a signature and an encryption per ticket).
 *    A failure of the store fails the run using it (GROUP_STORAGE_FAILED, retried) and the instance
 *    is rebuilt; it never ends the process.
 *  - apiUrl: omitted for Virgil Cloud (E3Kit then verifies Virgil's card signatures), set for any
 *    other URL (the emulator), where self-signatures are re-enabled.
 *  - What saves Virgil calls between runs: the service identity's own card (found once per
 *    instance, in the same search as the members' cards), and the last few groups it worked on as
 *    that run left them, reused by the next run of the group when nothing changed on Virgil since
 *    (the caller checks the group's membership version; see reconcile.ts).
 *
 * The caller hands in the tenant it already looked up (the tenant directory's runtime fits
 * ServiceIdentityTenant), so a reconcile run reads its tenant once. Uses are leased: an instance
 * retired (evicted or replaced) is closed once its last job is done.
 */
import type { Logger } from 'pino';
import { DomainError, misconfigured } from '../lib/errors.js';
import { Lru } from '../lib/lru.js';
import {
  closeGroupStorage, createEThree, enableSelfSignatureVerification, releaseCards, releaseEThree, type EThreeInstance, type GroupStorageBackend,
} from './e3kit-runtime.js';
import { VIRGIL_CLOUD_URL } from './cards.js';
import { DEFAULT_GROUP_STORE_BYTES, isGroupStoreError, MemoryGroupStore } from './group-store.js';
import { SealedServiceKeyStorage } from './key-storage.js';

export type EThree = EThreeInstance;
export type VirgilCard = Parameters<EThree['loadGroup']>[1];
export type VirgilGroup = Awaited<ReturnType<EThree['loadGroup']>>;

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
  /** Whether the own card is known already (else the caller can search it with other cards). */
  readonly ownCardKnown: boolean;
  /** The own card from the cards a search found for the service identity (publishes it if none matches). */
  ownCardFrom(found: VirgilCard[]): Promise<VirgilCard>;
  /** The group as this instance's last run of it left it, if that run recorded `version` as the result. */
  keptGroup(groupId: string, version: string): VirgilGroup | null;
  keepGroup(groupId: string, group: VirgilGroup, version: string): void;
  forgetGroup(groupId: string): void;
}

export interface ServiceIdentitiesOptions {
  virgilApiUrl: string;
  log: Logger;
  /** Records the card id after the worker (re)published a missing service card. */
  onCardPublished(tenantId: string, cardId: string): Promise<void>;
  /** Instances kept open at most; the least recently used is closed first (default 1,000). */
  maxInstances?: number;
  /** Bytes of E3Kit's local group copies per instance (default 64 KiB). */
  groupStoreBytes?: number;
  /** Builds an instance's group store (default: a MemoryGroupStore of groupStoreBytes). */
  groupStore?: () => GroupStorageBackend;
  /** Groups kept as their last run left them, over all instances (default 10,000; about 0.5–4 KiB each). */
  keptGroups?: number;
}

export const DEFAULT_MAX_SERVICE_IDENTITIES = 1_000;
export const DEFAULT_KEPT_GROUPS = 10_000;

/** Kept groups of every instance; an entry counts only for the instance that kept it. */
type KeptGroups = Lru<string, { instance: Instance; group: VirgilGroup; version: string }>;

interface Entry {
  configVersion: number;
  ready: Promise<Instance>;
  leases: number;
  retired: boolean;
}

/** How long a retired instance stays open after its last use (E3Kit writes its cache without awaiting). */
const RETIRE_GRACE_MS = 2_000;

/** The local group store failed: the run that used it fails (transient), the instance is rebuilt. */
export class GroupStorageError extends DomainError {
  constructor(cause: unknown) {
    super('unavailable', 'GROUP_STORAGE_FAILED', `E3Kit's local group storage failed: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

export class ServiceIdentities {
  /** In order of use, least recent first. */
  readonly #entries = new Map<string, Entry>();
  readonly #closing = new Set<Promise<void>>();
  readonly #maxInstances: number;
  readonly #kept: KeptGroups;
  #closed = false;

  constructor(private readonly opts: ServiceIdentitiesOptions) {
    this.#maxInstances = opts.maxInstances ?? DEFAULT_MAX_SERVICE_IDENTITIES;
    this.#kept = new Lru(opts.keptGroups ?? DEFAULT_KEPT_GROUPS);
    if (!Number.isInteger(this.#maxInstances) || this.#maxInstances < 1) throw new RangeError('maxInstances must be a positive integer');
  }

  /** Instances open now (in use or kept). */
  get size(): number {
    return this.#entries.size;
  }

  /** Runs `fn` with the tenant's service identity; the instance is not closed while `fn` runs. */
  async use<T>(tenant: ServiceIdentityTenant, fn: (svc: ServiceIdentity) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('service identities are closed');
    const tenantId = tenant.appId;
    let entry = this.#entries.get(tenantId);
    if (entry && entry.configVersion !== tenant.configVersion) {
      this.#retire(tenantId, entry);
      entry = undefined;
    }
    if (entry) {
      // Most recently used now.
      this.#entries.delete(tenantId);
      this.#entries.set(tenantId, entry);
    } else {
      const created: Entry = { configVersion: tenant.configVersion, leases: 0, retired: false, ready: this.#build(tenant) };
      created.ready.catch(() => { if (this.#entries.get(tenantId) === created) this.#entries.delete(tenantId); });
      this.#entries.set(tenantId, created);
      entry = created;
      this.#evictBeyondBound();
    }
    entry.leases++;
    try {
      const instance = await entry.ready;
      return await fn(instance).catch((err: unknown) => {
        if (!isGroupStoreError(err)) throw err;
        // A store that failed is not trusted again: the next use builds a fresh instance.
        this.opts.log.warn({ tenantId, err: (err as Error).message }, 'local group storage failed; the service identity is rebuilt');
        if (!entry!.retired) this.#retire(tenantId, entry!);
        throw new GroupStorageError(err);
      });
    } finally {
      entry.leases--;
      if (entry.retired && entry.leases === 0) this.#closeLater(entry);
    }
  }

  /** Closes the least recently used instances nobody is using, down to the bound. */
  #evictBeyondBound() {
    if (this.#entries.size <= this.#maxInstances) return;
    for (const [tenantId, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxInstances) break;
      if (entry.leases === 0) this.#retire(tenantId, entry);
    }
  }

  #retire(tenantId: string, entry: Entry) {
    if (this.#entries.get(tenantId) === entry) this.#entries.delete(tenantId);
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

  async #build(tenant: ServiceIdentityTenant): Promise<Instance> {
    const { appId: tenantId, serviceIdentity: identity, jwtSigner: signer, configVersion } = tenant;
    const privateKey = async () => openServiceKey(tenant);
    const apiUrl = this.opts.virgilApiUrl;
    const eThree = await createEThree(identity, async () => signer.sign(identity).token, {
      keyEntryStorage: new SealedServiceKeyStorage(identity, privateKey),
      groupStore: this.opts.groupStore?.() ?? new MemoryGroupStore(this.opts.groupStoreBytes ?? DEFAULT_GROUP_STORE_BYTES),
      localCopies: false,
      // Left unset for Virgil Cloud: E3Kit then uses its built-in URL and verifies Virgil's card
      // signatures; any other URL (the emulator) turns those checks off.
      ...(apiUrl === VIRGIL_CLOUD_URL ? {} : { apiUrl }),
    });
    if (apiUrl !== VIRGIL_CLOUD_URL) enableSelfSignatureVerification(eThree);
    this.opts.log.info({ tenantId, configVersion }, 'service identity ready');
    return new Instance({
      tenantId, identity, configVersion, eThree, kept: this.#kept,
      onCardPublished: (cardId) => this.opts.onCardPublished(tenantId, cardId),
      log: this.opts.log,
    });
  }

  /** Closes every instance (after the jobs using them finished). */
  async close(): Promise<void> {
    this.#closed = true;
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(entries.map((entry) => entry.ready.then((instance) => instance.close(), () => {})));
    await Promise.all([...this.#closing]);
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
  /** Keys of the groups this instance put in the kept LRU (removed when it closes). */
  readonly #keptKeys = new Set<string>();
  #pruneAt = 64;
  #closed = false;

  constructor(private readonly opts: {
    tenantId: string; identity: string; configVersion: number; eThree: EThree; kept: KeptGroups;
    onCardPublished: (cardId: string) => Promise<void>; log: Logger;
  }) {
    this.tenantId = opts.tenantId;
    this.identity = opts.identity;
    this.configVersion = opts.configVersion;
    this.eThree = opts.eThree;
  }

  get ownCardKnown(): boolean {
    return this.#card !== null;
  }

  ownCard(): Promise<VirgilCard> {
    this.#card ??= this.#remember(this.#findOrPublishCard());
    return this.#card;
  }

  ownCardFrom(found: VirgilCard[]): Promise<VirgilCard> {
    this.#card ??= this.#remember(this.#findOrPublishCard(found));
    return this.#card;
  }

  /** Kept groups are keyed by tenant and group id; group ids are derived per tenant. */
  #keyOf(groupId: string): string {
    return `${this.tenantId}\0${groupId}`;
  }

  keptGroup(groupId: string, version: string): VirgilGroup | null {
    if (this.#closed) return null;
    const kept = this.opts.kept.get(this.#keyOf(groupId));
    return kept && kept.instance === this && kept.version === version ? kept.group : null;
  }

  keepGroup(groupId: string, group: VirgilGroup, version: string): void {
    if (this.#closed) return;
    const key = this.#keyOf(groupId);
    this.opts.kept.set(key, { instance: this, group, version });
    this.#keptKeys.add(key);
    // Keys the shared LRU dropped meanwhile are forgotten now and then, so the set stays small.
    if (this.#keptKeys.size > this.#pruneAt) {
      for (const k of this.#keptKeys) if (this.opts.kept.peek(k)?.instance !== this) this.#keptKeys.delete(k);
      this.#pruneAt = Math.max(64, 2 * this.#keptKeys.size);
    }
  }

  forgetGroup(groupId: string): void {
    const key = this.#keyOf(groupId);
    if (this.opts.kept.peek(key)?.instance === this) this.opts.kept.delete(key);
    this.#keptKeys.delete(key);
  }

  #remember(finding: Promise<VirgilCard>): Promise<VirgilCard> {
    const card = finding.catch((err) => {
      if (this.#card === card) this.#card = null;
      throw err;
    });
    return card;
  }

  async #findOrPublishCard(alreadyFound?: VirgilCard[]): Promise<VirgilCard> {
    const { eThree } = this;
    const crypto = eThree.virgilCrypto;
    // E3Kit's key loader imports the key once per instance and keeps it.
    type KeyPair = NonNullable<Parameters<EThree['register']>[0]>;
    const keyLoader = (eThree as unknown as { keyLoader: { loadLocalKeyPair(): Promise<KeyPair | null> } }).keyLoader;
    const keyPair = await keyLoader.loadLocalKeyPair();
    if (!keyPair) throw misconfigured('SERVICE_KEY_UNAVAILABLE', 'the service identity has no private key');
    const { privateKey, publicKey } = keyPair;
    const ours = crypto.exportPublicKey(publicKey).toString('base64');
    const matching = (cards: VirgilCard[]) => cards.find((card) => crypto.exportPublicKey(card.publicKey).toString('base64') === ours);

    let cards = alreadyFound ?? await eThree.cardManager.searchCards(this.identity);
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
    releaseCards(cards.filter((other) => other !== card));
    if (!card) throw misconfigured('SERVICE_CARD_MISMATCH', 'the service identity card on Virgil does not match the stored service key');
    return card;
  }

  /** Drops the groups it kept, closes E3Kit's local group storage and frees its keys' WASM memory. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const key of this.#keptKeys) if (this.opts.kept.peek(key)?.instance === this) this.opts.kept.delete(key);
    this.#keptKeys.clear();
    await closeGroupStorage(this.eThree).catch(() => {});
    const card = await this.#card?.catch(() => null);
    if (card) releaseCards([card]);
    releaseEThree(this.eThree);
  }
}
