/**
 * The in-memory fixed-window counters (src/http/plugins/fixed-window.ts) on a fake clock: limits,
 * Retry-After, roll-over on use and by the timer, per-user and per-tenant levels, bounded keys.
 * The HTTP answers (429, headers, which requests count) are in the integration tier.
 */
import t from 'tap';
import { FixedWindowCounter, TenantUserWindowCounter } from '../../src/http/plugins/fixed-window.js';
import { waitFor } from '../helpers/wait.js';

/** A fake clock starting `offsetMs` into a minute-aligned window. */
function fakeClock(offsetMs = 0) {
  const clock = { ms: Date.UTC(2026, 0, 1, 12, 0, 0) + offsetMs, now: () => clock.ms, advance: (ms: number) => { clock.ms += ms; } };
  return clock;
}

t.test('a flat counter allows `limit` requests per key and window, then says how long to wait', async (t) => {
  const clock = fakeClock(15_000);
  const counter = new FixedWindowCounter({ now: clock.now });
  t.teardown(() => counter.close());
  for (let i = 0; i < 5; i++) t.equal(counter.consume('token', 5), 0, `request ${i + 1} allowed`);
  t.equal(counter.consume('token', 5), 45, 'the 6th is refused with 45 s left in the window');
  t.equal(counter.consume('other', 5), 0, 'other keys are counted apart');
  clock.advance(44_500);
  t.equal(counter.consume('token', 5), 1, 'Retry-After is at least 1 s (rounded up)');
  clock.advance(500);
  t.equal(counter.consume('token', 5), 0, 'the next window starts at the minute');
  t.equal(counter.size, 1, 'the old window was dropped wholesale');
});

t.test('Retry-After rounds up to whole seconds and a limit of 0 refuses at once', async (t) => {
  const clock = fakeClock(59_001);
  const counter = new FixedWindowCounter({ now: clock.now });
  t.teardown(() => counter.close());
  t.equal(counter.consume('k', 0), 1, '999 ms left: 1 s');
  clock.advance(-59_001 + 100);
  t.equal(counter.consume('k', 0), 60, '59.9 s left: 60 s');
});

t.test('the roll-over timer uses the injected clock too', async (t) => {
  // The fake clock is in 2100: a timer reading Date.now() would never see the window end, so the
  // counts dropping (observed, not slept for) shows the timer reads the injected clock.
  const clock = { ms: Date.UTC(2100, 0, 1), now: () => clock.ms };
  const counter = new FixedWindowCounter({ now: clock.now, windowMs: 20 });
  t.teardown(() => counter.close());
  counter.consume('a', 10);
  counter.consume('b', 10);
  t.equal(counter.size, 2);
  clock.ms += 20;
  await waitFor(() => counter.size === 0, 'the timer to roll the window over', 5_000);
  t.equal(counter.size, 0, 'once the fake clock passes the window end, the timer drops the counts');
});

t.test('keys beyond maxKeys share one overflow bucket', async (t) => {
  const clock = fakeClock();
  const counter = new FixedWindowCounter({ now: clock.now, maxKeys: 2 });
  t.teardown(() => counter.close());
  t.equal(counter.consume('a', 2), 0);
  t.equal(counter.consume('b', 2), 0);
  t.equal(counter.consume('c', 2), 0, 'the third key goes to the overflow bucket');
  t.equal(counter.consume('d', 2), 0, 'so does the fourth');
  t.ok(counter.consume('e', 2) > 0, 'and the bucket has its own limit');
  t.equal(counter.consume('a', 2), 0, 'known keys keep their own counts');
  t.equal(counter.size, 3, 'memory is bounded: two keys plus the bucket');
});

t.test('the two-level counter: per user within a tenant, and per tenant', async (t) => {
  const clock = fakeClock(30_000);
  const counter = new TenantUserWindowCounter({ now: clock.now });
  t.teardown(() => counter.close());
  for (let i = 0; i < 3; i++) t.equal(counter.consume('t1', 'dave', 100, 3), 0);
  t.equal(counter.consume('t1', 'dave', 100, 3), 30, 'the user limit refuses with the seconds left');
  t.equal(counter.consume('t1', 'erin', 100, 3), 0, 'other users are not affected');
  t.equal(counter.consume('t2', 'dave', 100, 3), 0, 'the same uid in another tenant is not affected');
  for (let i = 0; i < 4; i++) t.equal(counter.consume('t3', `user${i}`, 4, 100), 0);
  t.equal(counter.consume('t3', 'fresh', 4, 100), 30, 'the tenant limit covers all its users');
  t.equal(counter.consume('t3', 'user0', 4, 100), 30, 'refused requests are not counted, but still refused');
  clock.advance(30_000);
  t.equal(counter.consume('t3', 'fresh', 4, 100), 0, 'a new window');
  t.equal(counter.consume('t1', 'dave', 100, 3), 0, 'for every tenant');
});

t.test('a fixed window lets up to twice the limit through across a boundary (the accepted price)', async (t) => {
  const clock = fakeClock(59_000);
  const counter = new FixedWindowCounter({ now: clock.now });
  t.teardown(() => counter.close());
  let allowed = 0;
  for (let i = 0; i < 10; i++) if (counter.consume('k', 5) === 0) allowed++;
  clock.advance(1_000);
  for (let i = 0; i < 10; i++) if (counter.consume('k', 5) === 0) allowed++;
  t.equal(allowed, 10, '5 at the end of one window, 5 at the start of the next');
});
