/**
 * A background task that runs every `intervalMs`, counted from the end of the previous run so runs
 * never overlap; the first run comes after `firstDelayMs`. A failed run is reported and the next one
 * is scheduled as usual. Timers are unref'd, so a task never keeps a process alive, and stop() waits
 * for a run in progress.
 *
 * stop() also aborts `signal`, so a long run (a sweep, an import) can end its requests and waits at
 * once instead of holding the shutdown up; a task started again gets a fresh signal.
 */
export interface PeriodicTaskOptions {
  intervalMs: number;
  firstDelayMs?: number;
  run: () => Promise<unknown>;
  onError: (err: Error) => void;
}

export class PeriodicTask {
  readonly #opts: PeriodicTaskOptions;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;
  #stopped = true;
  #abort = new AbortController();

  constructor(opts: PeriodicTaskOptions) {
    this.#opts = opts;
  }

  /** Aborted by stop(), with the reason given there. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    if (this.#abort.signal.aborted) this.#abort = new AbortController();
    this.#schedule(this.#opts.firstDelayMs ?? this.#opts.intervalMs);
  }

  #schedule(delay: number) {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#running = this.#opts.run()
        .catch((err: unknown) => this.#opts.onError(err as Error))
        .finally(() => {
          this.#running = null;
          this.#schedule(this.#opts.intervalMs);
        });
    }, delay);
    this.#timer.unref();
  }

  async stop(reason?: unknown): Promise<void> {
    this.#stopped = true;
    this.#abort.abort(reason);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => {});
  }
}

export interface PollingServiceOptions {
  intervalMs: number;
  firstDelayMs: number;
  log: { warn(obj: object, msg: string): void };
  /** Logged (as a warning, with the error's message) when a pass fails. */
  failure: string;
}

/**
 * A background service of the worker made of one periodic task: `poll()` every interval, a warning
 * when a pass fails, `signal` aborted by stop() so a pass in progress ends its waits at once.
 */
export abstract class PollingService {
  readonly #task: PeriodicTask;

  constructor(opts: PollingServiceOptions) {
    this.#task = new PeriodicTask({
      intervalMs: opts.intervalMs,
      firstDelayMs: opts.firstDelayMs,
      run: () => this.poll(),
      onError: (err) => opts.log.warn({ err: err.message }, opts.failure),
    });
  }

  /** One pass of the service's work. */
  protected abstract poll(): Promise<unknown>;

  protected get signal(): AbortSignal {
    return this.#task.signal;
  }

  start(): void {
    this.#task.start();
  }

  /** Stops taking passes, aborts `signal` and waits for the pass in progress. */
  stop(reason?: unknown): Promise<void> {
    return this.#task.stop(reason);
  }
}
