/**
 * The one entry point to `@virgilsecurity/e3kit-node` 2.5.1 in this code base.
 *
 * e3kit-node pins old copies of virgil-crypto (4.2.2) and pythia-crypto (1.1.3) whose Emscripten
 * loaders call the global `fetch()` on a filesystem path whenever `fetch` exists (Node ≥ 18), which
 * aborts the process during `EThree.initialize`. They also install process-wide
 * `uncaughtException`/`unhandledRejection` listeners that turn any unhandled rejection into a WASM
 * abort. So before e3kit is used we:
 *   1. resolve the exact module instances e3kit will `require` (same paths → same CommonJS cache
 *      entries) and initialise them with `wasmBinary` read from disk, so no fetch ever happens; their
 *      `ModuleInitializer` caches that first promise, and e3kit's own `initCrypto()`/`initPythia()`
 *      calls later reuse it;
 *   2. remove the listeners those modules added, by diffing `process.listeners()` around the
 *      (synchronous) module construction.
 * Global `fetch` is never touched.
 *
 * Group storage: e3kit-node's constructor opens a LevelDB folder (`leveldown(groupStorageName)`)
 * for every EThree: four file descriptors and a folder each, and an unhandled 'error' event (the
 * process dies) when the open fails, e.g. at the descriptor limit. What E3Kit really needs is any
 * abstract-leveldown store. `createEThree()` hands it one (group-store.ts) through the `leveldown`
 * module e3kit-node requires, which is wrapped here: it returns the store supplied for the
 * EThree being constructed (synchronously, by createEThree), and a real LevelDB otherwise, so
 * `EThree.initialize` keeps E3Kit's default behaviour for anyone else.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export type E3kitModule = typeof import('@virgilsecurity/e3kit-node');
export type EThreeInstance = Awaited<ReturnType<E3kitModule['EThree']['initialize']>>;
export type EThreeOptions = NonNullable<Parameters<E3kitModule['EThree']['initialize']>[1]>;

type InitWithWasm = (options: Record<string, Array<{ wasmBinary: Uint8Array }>>) => Promise<void>;

const GUARDED_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;
type GuardedEvent = (typeof GUARDED_EVENTS)[number];

let loading: Promise<E3kitModule> | undefined;

/** An abstract-leveldown store, as E3Kit's GroupLocalStorage takes it. */
export interface GroupStorageBackend { readonly status: string; close(callback: (error?: Error) => void): void }

/** The store for the EThree being constructed right now (set and cleared synchronously around it). */
let suppliedGroupStore: GroupStorageBackend | undefined;
let groupStoreWrapped = false;
let virgilSdk: { CachingJwtProvider: new (getToken: () => Promise<string>) => unknown } | undefined;

/** Loads e3kit-node with its WASM pre-initialised. Idempotent: every call returns the same promise. */
export function loadE3kit(): Promise<E3kitModule> {
  loading ??= initialise().catch((error: unknown) => {
    loading = undefined; // allow a retry after e.g. a transient file-system error
    throw error;
  });
  return loading;
}

async function initialise(): Promise<E3kitModule> {
  const requireHere = createRequire(import.meta.url);
  const e3kitEntry = requireHere.resolve('@virgilsecurity/e3kit-node');
  const requireAsE3kit = createRequire(e3kitEntry);

  // The same specifiers e3kit-node's dist file requires, resolved from its own location.
  const cryptoEntry = requireAsE3kit.resolve('virgil-crypto/dist/node.cjs.js');
  const pythiaEntry = requireAsE3kit.resolve('@virgilsecurity/pythia-crypto/dist/node.cjs.js');
  const foundationWasm = wasmBeside(createRequire(cryptoEntry), '@virgilsecurity/core-foundation/node.cjs.js', 'libfoundation.wasm');
  const pythiaWasm = wasmBeside(createRequire(pythiaEntry), '@virgilsecurity/core-pythia', 'libpythia.wasm');

  // e3kit-node binds `require('leveldown')` when its module loads: wrap it before that (if it was
  // loaded by someone else first, createEThree refuses to run rather than open a LevelDB).
  groupStoreWrapped = requireAsE3kit.cache[e3kitEntry] === undefined;
  const leveldownEntry = requireAsE3kit.resolve('leveldown');
  const realLeveldown = requireAsE3kit(leveldownEntry) as (location: string) => unknown;
  const leveldownModule = requireAsE3kit.cache[leveldownEntry];
  if (!leveldownModule) throw new Error('leveldown did not load as a CommonJS module');
  leveldownModule.exports = (location: string) => {
    const store = suppliedGroupStore;
    suppliedGroupStore = undefined;
    return store ?? realLeveldown(location);
  };
  virgilSdk = requireAsE3kit('virgil-sdk') as typeof virgilSdk;

  const crypto = requireAsE3kit(cryptoEntry) as { initCrypto: InitWithWasm };
  const pythia = requireAsE3kit(pythiaEntry) as { initPythia: InitWithWasm };
  const [foundationBinary, pythiaBinary] = await Promise.all([readFile(foundationWasm), readFile(pythiaWasm)]);

  // The Emscripten module constructors add their listeners synchronously, inside these two calls;
  // diffing around synchronous code only means no listener added by anyone else can be caught.
  const before = snapshotListeners();
  let initialised: Promise<unknown>;
  try {
    initialised = Promise.all([
      crypto.initCrypto({ foundation: [{ wasmBinary: foundationBinary }] }),
      pythia.initPythia({ pythia: [{ wasmBinary: pythiaBinary }] }),
    ]);
  } finally {
    removeListenersAddedSince(before);
  }
  await initialised;
  return requireAsE3kit(e3kitEntry) as E3kitModule;
}

/** Path of a `.wasm` file shipped next to the entry file of a package, resolved like its consumer does. */
function wasmBeside(requireAsConsumer: NodeJS.Require, packageEntry: string, wasmFile: string): string {
  return join(dirname(requireAsConsumer.resolve(packageEntry)), wasmFile);
}

type AnyListener = (...args: unknown[]) => void;

// process.listeners()/removeListener() are overloaded per event name; go through the EventEmitter view.
const processEvents = process as unknown as { listeners(event: string): AnyListener[]; removeListener(event: string, listener: AnyListener): void };

function snapshotListeners(): Map<GuardedEvent, Set<AnyListener>> {
  return new Map(GUARDED_EVENTS.map((event) => [event, new Set(processEvents.listeners(event))]));
}

function removeListenersAddedSince(before: Map<GuardedEvent, Set<AnyListener>>): void {
  for (const event of GUARDED_EVENTS) {
    const known = before.get(event)!;
    for (const listener of processEvents.listeners(event)) {
      if (!known.has(listener)) processEvents.removeListener(event, listener);
    }
  }
}

/**
 * e3kit disables card self-signature checks for any apiUrl other than Virgil's production URL.
 * Against the emulator they can be turned back on; the verifier object is public and mutable.
 */
export function enableSelfSignatureVerification(eThree: EThreeInstance): void {
  const verifier = (eThree as unknown as { cardManager: { cardVerifier?: { verifySelfSignature: boolean } } }).cardManager.cardVerifier;
  if (verifier) verifier.verifySelfSignature = true;
}

/** A virgil-crypto 4 key: its WASM memory is freed only by dispose() (the library has no finalizers). */
interface WasmKey { dispose(): void; readonly isDisposed?: boolean }
type KeyPair = { privateKey: WasmKey; publicKey: WasmKey };

type E3kitInternals = {
  groupManager?: { _localGroupStorage?: { _encryptionLevel?: { db?: GroupStorageBackend }; store(group: unknown): Promise<void> } };
  keyLoader: { cachedPrivateKey?: WasmKey | null; loadLocalPrivateKey(): Promise<WasmKey | null>; loadLocalKeyPair(): Promise<KeyPair | null> };
  virgilCrypto: { extractPublicKey(key: WasmKey): WasmKey };
  cardManager: { cardVerifier?: { virgilCardsPublicKey?: WasmKey } };
};

function dispose(key: WasmKey | null | undefined): void {
  if (key && !key.isDisposed) key.dispose();
}

/** The folder given to e3kit-node's constructor, which creates it (it exists: nothing is created). */
const EXISTING_FOLDER = tmpdir();

export interface CreateEThreeOptions {
  /** Virgil's URL; unset for Virgil Cloud. */
  apiUrl?: string;
  keyEntryStorage: NonNullable<EThreeOptions['keyEntryStorage']>;
  /** E3Kit's local group storage (no LevelDB folder). */
  groupStore: GroupStorageBackend;
  /**
   * Whether E3Kit keeps its local copy of the groups it loads or changes (default true). Each copy
   * costs a signature and an encryption per ticket. Without them, `getGroup()` finds nothing and
   * `group.add()` fails (it reads the copy); loading, creating, removing, re-adding and deleting
   * work from Keyknox alone.
   */
  localCopies?: boolean;
}

/**
 * An EThree for an identity we already know (the service identity), with `groupStore` as its
 * group storage. Like `EThree.initialize` without its token round trip: the identity is given.
 */
export async function createEThree(identity: string, getToken: () => Promise<string>, options: CreateEThreeOptions): Promise<EThreeInstance> {
  const { EThree } = await loadE3kit();
  if (!groupStoreWrapped) throw new Error('e3kit-node was loaded before loadE3kit(): it cannot be given a group store');
  suppliedGroupStore = options.groupStore;
  let eThree: EThreeInstance;
  try {
    eThree = new EThree(identity, {
      accessTokenProvider: new virgilSdk!.CachingJwtProvider(getToken) as never,
      keyEntryStorage: options.keyEntryStorage,
      groupStorageName: EXISTING_FOLDER,
      ...(options.apiUrl === undefined ? {} : { apiUrl: options.apiUrl }),
    });
  } finally {
    suppliedGroupStore = undefined;
  }
  const storage = (eThree as unknown as E3kitInternals).groupManager?._localGroupStorage;
  if (storage?._encryptionLevel?.db !== options.groupStore) throw new Error('E3Kit did not take the supplied group store');
  // GroupManager.pull() and store() are the only writers of the copies (and do not await them).
  if (options.localCopies === false) storage.store = async () => {};
  // E3Kit keeps the imported private key, but derives the public key again on every use (a Keyknox
  // call, a local write), and every derived key stays in WASM memory for good: derive it once.
  const internals = eThree as unknown as E3kitInternals;
  let pair: KeyPair | null = null;
  internals.keyLoader.loadLocalKeyPair = async () => {
    const privateKey = await internals.keyLoader.loadLocalPrivateKey();
    if (!privateKey) return null;
    if (pair?.privateKey !== privateKey) {
      dispose(pair?.publicKey);
      pair = { privateKey, publicKey: internals.virgilCrypto.extractPublicKey(privateKey) };
    }
    return pair;
  };
  keyPairs.set(eThree, () => pair);
  return eThree;
}

/** The derived key pair of each EThree made by createEThree (freed by releaseEThree). */
const keyPairs = new WeakMap<EThreeInstance, () => KeyPair | null>();

/**
 * Frees the WASM memory an EThree instance holds (its private key, the public key derived from it,
 * Virgil's card-signing key its card verifier imported): for an instance dropped for good. Without
 * this, every instance built and dropped leaves a few hundred bytes behind.
 */
export function releaseEThree(eThree: EThreeInstance): void {
  const internals = eThree as unknown as E3kitInternals;
  dispose(keyPairs.get(eThree)?.()?.publicKey);
  dispose(internals.keyLoader.cachedPrivateKey);
  internals.keyLoader.cachedPrivateKey = null;
  dispose(internals.cardManager.cardVerifier?.virgilCardsPublicKey);
}

/** Frees the WASM memory of the public keys of cards nobody uses any more (each search imports them anew). */
export function releaseCards(cards: Iterable<{ publicKey: unknown }>): void {
  for (const card of cards) dispose(card.publicKey as WasmKey);
}

/**
 * Closes an EThree instance's LevelDB group cache. E3Kit has no public close; the handle is reached
 * through its internals (GroupManager → GroupLocalStorage → encrypt-down → leveldown). It opens in
 * the background, so this first waits for the open to settle: removing the folder of a handle still
 * opening makes levelup emit an unhandled 'error' that would end the process.
 */
export async function closeGroupStorage(eThree: EThreeInstance): Promise<void> {
  const db = (eThree as unknown as E3kitInternals).groupManager?._localGroupStorage?._encryptionLevel?.db;
  // leveldown has no "opened" event to await; its status settles within milliseconds.
  for (let waited = 0; db && (db.status === 'new' || db.status === 'opening') && waited < 5_000; waited += 5) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (db?.status === 'open') await new Promise<void>((resolve) => db.close(() => resolve()));
}
