/**
 * The local group-ticket store E3Kit is given instead of a LevelDB folder: an abstract-leveldown
 * store in memory, bounded in bytes.
 *
 * E3Kit keeps a local copy of the groups it loads or changes (GroupLocalStorage: levelup and
 * subleveldown over an encrypting layer over this store). With LevelDB, every service identity cost
 * a folder, four file descriptors and a few hundred KiB that nobody pruned. Keyknox is the source of
 * truth, and the worker loads every group it works on from it (or from the group it kept from its
 * previous run, see service-identities.ts), so the local copy is only E3Kit's scratch space between
 * its own calls: it may forget anything, as long as what it keeps stays consistent.
 *
 * Eviction therefore drops whole groups, least recently used first: every key of one group session
 * (its info `…<sessionId>` and its tickets `…<sessionId>!<d>!<epoch>`) belongs to one unit, so a
 * group is either whole or absent. The unit just written is never evicted, so a group larger than
 * the bound is still stored (alone).
 */
import { AbstractIterator as BaseIterator, AbstractLevelDOWN as BaseLevelDOWN } from 'abstract-leveldown';
import type { AbstractIteratorOptions, ErrorCallback, ErrorKeyValueCallback, ErrorValueCallback } from 'abstract-leveldown';

/**
 * The store failed. Whatever E3Kit operation used it fails with this (somewhere in its `cause`
 * chain); the worker then fails that run (it is retried) and rebuilds the service identity.
 */
export class GroupStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GroupStoreError';
  }
}

/** Whether `err`, or an error it was caused by, is a GroupStoreError. */
export function isGroupStoreError(err: unknown): boolean {
  for (let e = err as { name?: string; cause?: unknown } | null | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.name === 'GroupStoreError') return true;
  }
  return false;
}

/** Default bound of one store: a handful of groups of the largest size (about 3.5 KiB per 99-member ticket). */
export const DEFAULT_GROUP_STORE_BYTES = 64 * 1024;

interface Entry { key: Buffer; value: Buffer }

type Key = string | Buffer;
type RangeOptions = Pick<AbstractIteratorOptions<Key>, 'gt' | 'gte' | 'lt' | 'lte' | 'reverse' | 'limit'>;

const toBuffer = (data: unknown): Buffer => (Buffer.isBuffer(data) ? data : Buffer.from(String(data)));

/** E3Kit's ticket keys end in `!<digit count>!<epoch>`; the rest names the group session. */
const TICKET_SUFFIX = /![0-9a-z]![0-9]+$/;
function unitOf(key: Buffer): string {
  return key.toString('latin1').replace(TICKET_SUFFIX, '');
}

/** Index of the first entry whose key is >= `key` (or > `key` when `after`). */
function lowerBound(entries: Entry[], key: Buffer, after: boolean): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const cmp = Buffer.compare(entries[mid]!.key, key);
    if (cmp < 0 || (after && cmp === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The entries in a range, in the order and count asked (a snapshot: later writes are not seen). */
function selectRange(entries: Entry[], options: RangeOptions): Entry[] {
  let start = 0;
  let end = entries.length;
  if (options.gte !== undefined) start = lowerBound(entries, toBuffer(options.gte), false);
  if (options.gt !== undefined) start = Math.max(start, lowerBound(entries, toBuffer(options.gt), true));
  if (options.lte !== undefined) end = lowerBound(entries, toBuffer(options.lte), true);
  if (options.lt !== undefined) end = Math.min(end, lowerBound(entries, toBuffer(options.lt), false));
  let selected = start < end ? entries.slice(start, end) : [];
  if (options.reverse) selected = selected.reverse();
  const limit = options.limit ?? -1;
  return limit >= 0 ? selected.slice(0, limit) : selected;
}

/** What callers use of the store's public (abstract-leveldown) face besides what E3Kit calls. */
interface StoreFace { readonly status: string; close(callback: (error?: Error) => void): void }
const AbstractLevelDOWN = BaseLevelDOWN as unknown as new (manifest: object) => StoreFace;
const AbstractIterator = BaseIterator as unknown as new (db: object) => object;

class MemoryIterator extends AbstractIterator {
  #position = 0;

  constructor(db: MemoryGroupStore, private readonly entries: Entry[], private readonly options: AbstractIteratorOptions<Key>) {
    super(db);
  }

  _next(callback: ErrorKeyValueCallback<Key | undefined, Key | undefined>): void {
    const entry = this.entries[this.#position++];
    if (!entry) {
      queueMicrotask(() => callback(undefined, undefined, undefined));
      return;
    }
    const { keys = true, values = true, keyAsBuffer = true, valueAsBuffer = true } = this.options;
    const key = keys ? (keyAsBuffer ? entry.key : entry.key.toString()) : undefined;
    const value = values ? (valueAsBuffer ? entry.value : entry.value.toString()) : undefined;
    queueMicrotask(() => callback(undefined, key, value));
  }

  _end(callback: ErrorCallback): void {
    queueMicrotask(() => callback(undefined));
  }
}

export class MemoryGroupStore extends AbstractLevelDOWN {
  /** Sorted by key (bytewise, as LevelDB). */
  #entries: Entry[] = [];
  /** Bytes per group unit, in order of use (least recent first). */
  readonly #units = new Map<string, number>();
  #bytes = 0;

  constructor(readonly maxBytes: number = DEFAULT_GROUP_STORE_BYTES) {
    super({ bufferKeys: true, snapshots: true, permanence: false, clear: true, createIfMissing: true, errorIfExists: false });
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  }

  /** Bytes of keys and values held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Groups (units) held now. */
  get units(): number {
    return this.#units.size;
  }

  _open(_options: object, callback: ErrorCallback): void {
    queueMicrotask(() => callback(undefined));
  }

  _close(callback: ErrorCallback): void {
    queueMicrotask(() => callback(undefined));
  }

  _serializeKey(key: unknown): Buffer {
    return toBuffer(key);
  }

  _serializeValue(value: unknown): Buffer {
    return toBuffer(value);
  }

  _get(key: Buffer, options: { asBuffer?: boolean }, callback: ErrorValueCallback<Key | undefined>): void {
    const index = lowerBound(this.#entries, key, false);
    const entry = this.#entries[index];
    if (!entry || !entry.key.equals(key)) {
      queueMicrotask(() => callback(Object.assign(new Error('NotFound'), { notFound: true }), undefined));
      return;
    }
    this.#touch(unitOf(key));
    const value = options.asBuffer === false ? entry.value.toString() : entry.value;
    queueMicrotask(() => callback(undefined, value));
  }

  _put(key: Buffer, value: Buffer, _options: object, callback: ErrorCallback): void {
    this._batch([{ type: 'put', key, value }], {}, callback);
  }

  _del(key: Buffer, _options: object, callback: ErrorCallback): void {
    this._batch([{ type: 'del', key }], {}, callback);
  }

  _batch(operations: Array<{ type: 'put' | 'del'; key: Buffer; value?: Buffer }>, _options: object, callback: ErrorCallback): void {
    const written = new Set<string>();
    for (const op of operations) {
      const unit = unitOf(op.key);
      if (op.type === 'put') {
        this.#put(op.key, op.value ?? Buffer.alloc(0), unit);
        written.add(unit);
      } else {
        this.#delete(op.key, unit);
      }
    }
    this.#evict(written);
    queueMicrotask(() => callback(undefined));
  }

  _clear(options: RangeOptions, callback: ErrorCallback): void {
    for (const entry of selectRange(this.#entries, options)) this.#delete(entry.key, unitOf(entry.key));
    queueMicrotask(() => callback(undefined));
  }

  _iterator(options: AbstractIteratorOptions<Key>): object {
    return new MemoryIterator(this, selectRange(this.#entries, options), options);
  }

  #touch(unit: string): void {
    const bytes = this.#units.get(unit);
    if (bytes === undefined) return;
    this.#units.delete(unit);
    this.#units.set(unit, bytes);
  }

  #put(key: Buffer, value: Buffer, unit: string): void {
    const index = lowerBound(this.#entries, key, false);
    const existing = this.#entries[index];
    let delta = key.length + value.length;
    if (existing && existing.key.equals(key)) {
      delta -= existing.key.length + existing.value.length;
      existing.value = value;
    } else {
      this.#entries.splice(index, 0, { key, value });
    }
    this.#bytes += delta;
    const bytes = (this.#units.get(unit) ?? 0) + delta;
    this.#units.delete(unit);
    this.#units.set(unit, bytes);
  }

  #delete(key: Buffer, unit: string): void {
    const index = lowerBound(this.#entries, key, false);
    const existing = this.#entries[index];
    if (!existing || !existing.key.equals(key)) return;
    this.#entries.splice(index, 1);
    const size = existing.key.length + existing.value.length;
    this.#bytes -= size;
    const left = (this.#units.get(unit) ?? size) - size;
    if (left > 0) this.#units.set(unit, left);
    else this.#units.delete(unit);
  }

  /** Drops least recently used groups, never one just written, until within the bound. */
  #evict(keep: Set<string>): void {
    if (this.#bytes <= this.maxBytes) return;
    for (const unit of [...this.#units.keys()]) {
      if (this.#bytes <= this.maxBytes) break;
      if (keep.has(unit)) continue;
      this.#entries = this.#entries.filter((entry) => {
        if (unitOf(entry.key) !== unit) return true;
        this.#bytes -= entry.key.length + entry.value.length;
        return false;
      });
      this.#units.delete(unit);
    }
  }
}
