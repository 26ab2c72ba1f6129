/**
 * Batches lookups asked for in the same turn of the event loop into one call, caches the answers,
 * and shares in-flight lookups: a chat screen that renders fifty messages from ten senders makes
 * one request, not fifty.
 */

export interface BatchLoaderOptions {
  /** Most keys per call of `load`. */
  maxBatch: number;
  /** How long an answer is reused (default: forever). */
  maxAgeMs?: number;
  now?: () => number;
}

interface Waiter<V> { resolve(value: V): void; reject(error: unknown): void }

export class BatchLoader<V> {
  readonly #load: (keys: string[]) => Promise<Map<string, V | Error>>;
  readonly #maxBatch: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { value: V; at: number }>();
  readonly #queued = new Map<string, Array<Waiter<V>>>();
  #flushScheduled = false;

  /** `load` answers every key it was given, with a value or an Error for that key alone. */
  constructor(load: (keys: string[]) => Promise<Map<string, V | Error>>, options: BatchLoaderOptions) {
    this.#load = load;
    this.#maxBatch = options.maxBatch;
    this.#maxAgeMs = options.maxAgeMs ?? Number.POSITIVE_INFINITY;
    this.#now = options.now ?? Date.now;
  }

  /** The cached value if younger than `maxAgeMs` (default: the loader's; 0: always fresh), else a fresh one. */
  get(key: string, maxAgeMs: number = this.#maxAgeMs): Promise<V> {
    const cached = this.#cache.get(key);
    if (cached && this.#now() - cached.at < maxAgeMs) return Promise.resolve(cached.value);
    return new Promise<V>((resolve, reject) => {
      const waiters = this.#queued.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.#queued.set(key, [{ resolve, reject }]);
      this.#scheduleFlush();
    });
  }

  getMany(keys: string[], maxAgeMs?: number): Promise<V[]> {
    return Promise.all(keys.map((key) => this.get(key, maxAgeMs)));
  }

  forget(key: string): void {
    this.#cache.delete(key);
  }

  clear(): void {
    this.#cache.clear();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setTimeout(() => {
      this.#flushScheduled = false;
      const batch = [...this.#queued];
      this.#queued.clear();
      for (let i = 0; i < batch.length; i += this.#maxBatch) void this.#run(batch.slice(i, i + this.#maxBatch));
    }, 0);
  }

  async #run(batch: Array<[string, Array<Waiter<V>>]>): Promise<void> {
    let answers: Map<string, V | Error>;
    try {
      answers = await this.#load(batch.map(([key]) => key));
    } catch (error) {
      for (const [, waiters] of batch) for (const waiter of waiters) waiter.reject(error);
      return;
    }
    const at = this.#now();
    for (const [key, waiters] of batch) {
      const answer = answers.get(key);
      if (answer === undefined || answer instanceof Error) {
        const error = answer ?? new Error(`no answer for ${key}`);
        for (const waiter of waiters) waiter.reject(error);
        continue;
      }
      this.#cache.set(key, { value: answer, at });
      for (const waiter of waiters) waiter.resolve(answer);
    }
  }
}
