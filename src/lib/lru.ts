/**
 * A bounded map that forgets the least recently used entry first.
 *
 * A Map keeps insertion order, so moving a key to the end on every read makes the first key the
 * least recently used one. A first-in-first-out bound would instead drop the oldest insertion even
 * when it is read on every request, letting a flood of new keys push out the busiest ones.
 */
export class Lru<K, V> {
  readonly #map = new Map<K, V>();

  constructor(readonly maxSize: number) {
    if (!Number.isInteger(maxSize) || maxSize < 1) throw new RangeError(`LRU size must be a positive integer, got ${maxSize}`);
  }

  /** The value, marked as the most recently used. */
  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  /** The value, without changing the order of use. */
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  /** Stores `value` as the most recently used, dropping the least recently used beyond the bound. */
  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.maxSize) this.#map.delete(this.#map.keys().next().value as K);
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  get size(): number {
    return this.#map.size;
  }

  /** Keys from the least to the most recently used. */
  keys(): IterableIterator<K> {
    return this.#map.keys();
  }
}
