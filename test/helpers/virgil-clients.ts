/**
 * Real Virgil clients for end-to-end tests: Virgil JWTs signed like a backend would, and e3kit-node
 * instances with their own temporary key and group storage (LevelDB allows one handle per folder).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { closeGroupStorage, enableSelfSignatureVerification, loadE3kit, type EThreeInstance, type EThreeOptions } from '../../src/virgil/e3kit-runtime.js';
import { VirgilCardPublisher } from '../../src/virgil/cards.js';
import { VirgilJwtSigner } from '../../src/virgil/jwt.js';
import { generateEd25519KeyPair, importEd25519PrivateKey } from '../../src/virgil/keys.js';

export interface VirgilAppCredentials {
  appId: string;
  appKeyId: string;
  /** Base64 PKCS#8 DER Ed25519 private key. */
  appKey: string;
}

/** Anything with tap's `teardown`. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A Virgil JWT for `identity`; a negative `ttlSeconds` gives an already expired token. */
export function mintVirgilJwt(app: VirgilAppCredentials, identity: string, ttlSeconds = 600): string {
  const appKey = importEd25519PrivateKey(app.appKey);
  if (!appKey) throw new Error('appKey is not a base64 PKCS#8 Ed25519 private key');
  return new VirgilJwtSigner({ appId: app.appId, appKeyId: app.appKeyId, appKey, ttlSeconds }).sign(identity).token;
}

export interface E3ClientOptions {
  apiUrl: string;
  getToken: () => string | Promise<string>;
  /** Removes the client's temporary folders when the test ends. */
  t?: Teardown;
  /** Re-enable card self-signature checks that e3kit turns off for a non-production apiUrl (default true). */
  verifySelfSignatures?: boolean;
  /** Further EThree options (e.g. keyPairType, keyEntryStorage). */
  options?: Omit<EThreeOptions, 'apiUrl'>;
}

/** An initialized EThree talking to `apiUrl`, with fresh storage folders under the OS temp dir. */
export async function createE3Client(options: E3ClientOptions): Promise<EThreeInstance> {
  const { EThree } = await loadE3kit();
  const dir = await mkdtemp(path.join(tmpdir(), 'e3kit-client-'));
  const eThree = await EThree.initialize(async () => options.getToken(), {
    storageName: path.join(dir, 'keys'),
    groupStorageName: path.join(dir, 'groups'),
    ...options.options,
    apiUrl: options.apiUrl,
  });
  options.t?.teardown(async () => {
    await closeGroupStorage(eThree);
    await rm(dir, { recursive: true, force: true });
  });
  if (options.verifySelfSignatures !== false) enableSelfSignatureVerification(eThree);
  return eThree;
}


/**
 * Publishes a self-signed Ed25519 card for `identity` with plain HTTP (no e3kit), as the service
 * publishes its own: a cheap way to get many registered users, e.g. for group-size limits.
 */
export async function publishTestCard(apiUrl: string, app: VirgilAppCredentials, identity: string): Promise<{ cardId: string; privateKey: string }> {
  const { privateKey } = generateEd25519KeyPair();
  const cardId = await new VirgilCardPublisher(apiUrl).publish(
    { appId: app.appId, appKeyId: app.appKeyId, appKey: importEd25519PrivateKey(app.appKey)! }, identity, importEd25519PrivateKey(privateKey)!,
  );
  return { cardId, privateKey };
}
