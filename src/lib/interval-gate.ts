/**
 * "At most once per interval per key": `due(key)` is true the first time, then false until
 * `intervalMs` has passed on the injected clock. Remembers the most recent `maxKeys` keys (an LRU),
 * so memory is bounded; a key it forgot is simply due again.
 */
import { Lru } from './lru.js';

export class IntervalGate {
  readonly #last: Lru<string, number>;

  constructor(readonly intervalMs: number, maxKeys: number, private readonly now: () => number = Date.now) {
    this.#last = new Lru(maxKeys);
  }

  /** True when the key was not let through within the interval; it is noted as let through now. */
  due(key: string): boolean {
    const now = this.now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.#last.set(key, now);
    return true;
  }
}
