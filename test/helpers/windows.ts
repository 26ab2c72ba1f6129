/**
 * Rate-limit checks through the real app, whose fixed windows follow the real clock (one minute,
 * aligned to the minute). Instead of waiting for a boundary to pass, a sequence is run and, if a
 * minute boundary fell inside it, run once more (a second crossing would need a 60 s sequence).
 * The window arithmetic itself is unit tested on a fake clock (test/unit/rate-limit-windows.test.ts).
 */
const WINDOW_MS = 60_000;

export async function sameWindow<T>(sequence: () => Promise<T>, windowMs = WINDOW_MS): Promise<{ value: T; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    const window = Math.floor(Date.now() / windowMs);
    const value = await sequence();
    if (Math.floor(Date.now() / windowMs) === window) return { value, attempts: attempt };
    if (attempt >= 2) throw new Error('a window boundary fell inside the sequence twice: is it taking a minute?');
  }
}
