/**
 * In-memory data model of the emulator. Everything user-supplied is a Map key, never an object
 * property, so identities like `__proto__` are just strings.
 */
import { randomBytes } from 'node:crypto';

export interface RawCardSignature {
  signer: string;
  signature: string;
  snapshot?: string;
}

export interface CardRecord {
  id: string;
  identity: string;
  /** Exactly as received: the card id and every signature are computed over these bytes. */
  contentSnapshot: string;
  signatures: RawCardSignature[];
  previousCardId?: string;
  supersededBy?: string;
  revoked: boolean;
  createdAt: number;
}

export interface AppCards {
  byId: Map<string, CardRecord>;
  /** Card ids per identity in publication order (search returns them in this order). */
  byIdentity: Map<string, string[]>;
}

export interface KeyknoxBlob {
  meta: string;
  value: string;
}

export interface KeyknoxV1Record extends KeyknoxBlob {
  /** Major version number; rendered as "N.0". */
  version: number;
  hash: string;
}

export interface KeyknoxV2Record {
  owner: string;
  root: string;
  path: string;
  key: string;
  /** Everyone holding a copy, in first-push order, without duplicates. */
  identities: string[];
  /** Each recipient's own copy: a later push for other recipients leaves it untouched. */
  copies: Map<string, KeyknoxBlob>;
  lastPushed: KeyknoxBlob;
  hash: string;
}

export interface AppData {
  cards: AppCards;
  keyknoxV1: Map<string, KeyknoxV1Record>;
  /** Records grouped by {@link keyknoxV2FolderKey} (owner, root, path), then by key. */
  keyknoxV2: Map<string, Map<string, KeyknoxV2Record>>;
}

export interface AppRecord {
  appId: string;
  /** appKeyId → base64 SPKI Ed25519 public key. */
  keys: Map<string, string>;
  createdAt: number;
}

/** Pythia server secrets. If they change, every existing key backup becomes unrecoverable. */
export interface PythiaSecrets {
  transformationKeyId: string;
  pythiaSecret: string;
  pythiaScopeSecret: string;
}

export interface EmulatorState {
  apps: Map<string, AppRecord>;
  data: Map<string, AppData>;
  pythia: PythiaSecrets;
}

export function createAppData(): AppData {
  return { cards: { byId: new Map(), byIdentity: new Map() }, keyknoxV1: new Map(), keyknoxV2: new Map() };
}

export function createPythiaSecrets(): PythiaSecrets {
  return {
    transformationKeyId: randomBytes(16).toString('base64'),
    pythiaSecret: randomBytes(32).toString('base64'),
    pythiaScopeSecret: randomBytes(32).toString('base64'),
  };
}

export function createEmptyState(): EmulatorState {
  return { apps: new Map(), data: new Map(), pythia: createPythiaSecrets() };
}

/** Data partition of one app, created on first use. */
export function appData(state: EmulatorState, appId: string): AppData {
  let data = state.data.get(appId);
  if (!data) {
    data = createAppData();
    state.data.set(appId, data);
  }
  return data;
}

export function keyknoxV2FolderKey(owner: string, root: string, path: string): string {
  return JSON.stringify([owner, root, path]);
}

/** Keyknox hashes are opaque to clients; a fresh random value per write is enough. */
export function newKeyknoxHash(): string {
  return randomBytes(32).toString('base64');
}
