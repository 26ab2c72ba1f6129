/**
 * The suite's one way to wait: poll observable state until it holds. Tests never sleep and then
 * assert; they wait for the state they expect (and fail with `what` when it never comes).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (a safety net, not a budget under test). Default 20 s. */
  timeoutMs?: number;
  /** Pause between probes. Default 50 ms. */
  intervalMs?: number;
}

/**
 * Polls until `check` returns a value other than undefined/false and returns that value; a thrown
 * error counts as "not yet" (and is quoted if the wait times out).
 */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, options: WaitOptions | number = {}): Promise<T> {
  const { timeoutMs = 20_000, intervalMs = 50 } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(intervalMs);
  }
}

/** Polls `probe` until its value satisfies `ok`, and returns that value. */
export async function waitUntil<T>(probe: () => Promise<T>, ok: (value: T) => boolean, what: string, options?: WaitOptions | number): Promise<T> {
  return waitFor(async () => {
    const value = await probe();
    return ok(value) ? { value } : undefined;
  }, what, options).then((box) => box.value);
}
