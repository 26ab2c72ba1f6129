/**
 * A background task that runs every `intervalMs`, counted from the end of the previous run so runs
 * never overlap; the first run comes after `firstDelayMs`. A failed run is reported and the next one
 * is scheduled as usual. Timers are unref'd, so a task never keeps a process alive, and stop() waits
 * for a run in progress.
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

  constructor(opts: PeriodicTaskOptions) {
    this.#opts = opts;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
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

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => {});
  }
}
