/**
 * Emulator state with optional JSON-file persistence.
 *
 * The whole state lives in memory; when a data file is configured it is loaded on start and rewritten
 * shortly after each mutation (debounced), atomically (write a temp file, then rename), and flushed on
 * close. A file that exists but cannot be read is an error: silently starting empty would lose the
 * Pythia secret and make every key backup unrecoverable.
 */
import { mkdir, readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  createAppData,
  createEmptyState,
  keyknoxV2FolderKey,
  type AppData,
  type CardRecord,
  type EmulatorState,
  type KeyknoxBlob,
  type KeyknoxV1Record,
  type PythiaSecrets,
} from './model.js';

const FORMAT = 'virgil-emulator-state';
const FORMAT_VERSION = 1;
const SAVE_DELAY_MS = 25;

interface PersistedV2Record {
  owner: string;
  root: string;
  path: string;
  key: string;
  identities: string[];
  copies: Array<{ identity: string } & KeyknoxBlob>;
  lastPushed: KeyknoxBlob;
  hash: string;
}

interface PersistedState {
  format: typeof FORMAT;
  version: typeof FORMAT_VERSION;
  pythia: PythiaSecrets;
  apps: Array<{ appId: string; createdAt: number; keys: Array<{ appKeyId: string; publicKey: string }> }>;
  data: Array<{
    appId: string;
    cards: CardRecord[];
    keyknoxV1: Array<{ identity: string } & KeyknoxV1Record>;
    keyknoxV2: PersistedV2Record[];
  }>;
}

export class EmulatorStore {
  readonly state: EmulatorState;
  readonly #file: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #dirty = false;
  #writing: Promise<void> = Promise.resolve();
  #lastWriteError: unknown;
  #persistCount = 0;
  #writesStarted = 0;
  #persistWaiters: Array<{ write: number; resolve: () => void }> = [];

  private constructor(state: EmulatorState, file: string | undefined) {
    this.state = state;
    this.#file = file;
  }

  /** Opens the store; with a file, loads it or creates it (so the Pythia secret is kept from the start). */
  static async open(file?: string): Promise<EmulatorStore> {
    if (!file) return new EmulatorStore(createEmptyState(), undefined);
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const store = new EmulatorStore(text === undefined ? createEmptyState() : deserialize(text, file), file);
    if (text === undefined) await store.flush(true);
    return store;
  }

  /** Call after every mutation; persistence is debounced. */
  changed(): void {
    if (!this.#file) return;
    this.#dirty = true;
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#startWrite();
    }, SAVE_DELAY_MS);
    this.#timer.unref();
  }

  /** Writes pending changes now. Resolves once the file on disk reflects the state. */
  async flush(force = false): Promise<void> {
    if (!this.#file) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (force) this.#dirty = true;
    this.#startWrite();
    await this.#writing;
    if (this.#lastWriteError) throw this.#lastWriteError;
  }

  /** Serialises now (a consistent snapshot) and queues the write behind any write in progress. */
  #startWrite(): void {
    if (!this.#file || !this.#dirty) return;
    this.#dirty = false;
    const file = this.#file;
    const text = JSON.stringify(serialize(this.state));
    const write = ++this.#writesStarted;
    this.#writing = this.#writing.then(
      () => writeAtomically(file, text).then(() => {
        this.#lastWriteError = undefined;
        this.#persistCount += 1;
        const done = this.#persistWaiters.filter((w) => w.write <= write);
        this.#persistWaiters = this.#persistWaiters.filter((w) => w.write > write);
        for (const w of done) w.resolve();
      }),
    ).catch((error: unknown) => {
      this.#dirty = true; // retried by the next write
      this.#lastWriteError = error;
    });
  }

  /** Completed writes of the data file so far (observable by tests and tools). */
  get persistCount(): number {
    return this.#persistCount;
  }

  /**
   * Resolves once the data file reflects every change made before the call (by the debounced write
   * or a flush), without forcing a write. Resolves at once without a file or pending change.
   */
  whenPersisted(): Promise<void> {
    if (!this.#file || (!this.#dirty && !this.#timer)) return this.#writing;
    // Pending changes go out with the next write to start.
    return new Promise((resolve) => this.#persistWaiters.push({ write: this.#writesStarted + 1, resolve }));
  }

  /** Empties all app data; keeps apps and the Pythia secret unless asked. */
  reset(options: { apps?: boolean } = {}): void {
    this.state.data.clear();
    if (options.apps) this.state.apps.clear();
    this.changed();
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, file);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
}

function serialize(state: EmulatorState): PersistedState {
  return {
    format: FORMAT,
    version: FORMAT_VERSION,
    pythia: state.pythia,
    apps: [...state.apps.values()].map((app) => ({
      appId: app.appId,
      createdAt: app.createdAt,
      keys: [...app.keys].map(([appKeyId, publicKey]) => ({ appKeyId, publicKey })),
    })),
    data: [...state.data].map(([appId, data]) => ({
      appId,
      cards: [...data.cards.byId.values()],
      keyknoxV1: [...data.keyknoxV1].map(([identity, record]) => ({ identity, ...record })),
      keyknoxV2: [...data.keyknoxV2.values()].flatMap((folder) => [...folder.values()]).map((record) => ({
        ...record,
        copies: [...record.copies].map(([identity, blob]) => ({ identity, ...blob })),
      })),
    })),
  };
}

function deserialize(text: string, file: string): EmulatorState {
  let persisted: PersistedState;
  try {
    persisted = JSON.parse(text) as PersistedState;
  } catch (error) {
    throw new Error(`Emulator data file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (persisted?.format !== FORMAT || persisted.version !== FORMAT_VERSION) {
    throw new Error(`Emulator data file ${file} has an unknown format (expected ${FORMAT} v${FORMAT_VERSION}).`);
  }
  const state = createEmptyState();
  state.pythia = persisted.pythia;
  for (const app of persisted.apps) {
    state.apps.set(app.appId, {
      appId: app.appId,
      createdAt: app.createdAt,
      keys: new Map(app.keys.map((k) => [k.appKeyId, k.publicKey])),
    });
  }
  for (const entry of persisted.data) state.data.set(entry.appId, restoreAppData(entry));
  return state;
}

function restoreAppData(entry: PersistedState['data'][number]): AppData {
  const data = createAppData();
  for (const card of entry.cards) {
    data.cards.byId.set(card.id, card);
    const ids = data.cards.byIdentity.get(card.identity) ?? [];
    ids.push(card.id);
    data.cards.byIdentity.set(card.identity, ids);
  }
  for (const { identity, ...record } of entry.keyknoxV1) data.keyknoxV1.set(identity, record);
  for (const record of entry.keyknoxV2) {
    const folderKey = keyknoxV2FolderKey(record.owner, record.root, record.path);
    const folder = data.keyknoxV2.get(folderKey) ?? new Map();
    folder.set(record.key, { ...record, copies: new Map(record.copies.map(({ identity, meta, value }) => [identity, { meta, value }])) });
    data.keyknoxV2.set(folderKey, folder);
  }
  return data;
}
