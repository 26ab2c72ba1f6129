/**
 * The in-memory fixed-window counters (src/lib/fixed-window.ts) on a fake clock: limits,
 * Retry-After, roll-over on use and by the timer, per-user and per-tenant levels; the admin limiter
 * (valid tokens apart from failures, failures per network and against a global budget, bounded
 * memory); client networks and TRUST_PROXY; the shared (Redis) counters' fallback when Redis is
 * unreachable. The HTTP answers and the counters shared through a real Redis are in the
 * integration tier (test/integration/security/rate-limits.test.ts).
 */
import t from 'tap';
import { loadDevConfig } from '../../src/config/config.js';
import { AdminLimiter } from '../../src/http/plugins/admin-limiter.js';
import { fastifyTrustProxy, networkOf } from '../../src/http/client-network.js';
import { FixedWindowCounter, TenantUserWindowCounter } from '../../src/lib/fixed-window.js';
import { SharedTenantUserCounter, SharedWindowStore } from '../../src/http/plugins/shared-window.js';
import { freePort } from '../../src/local/free-port.js';
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

t.test('admin: a valid token is counted only against itself, whatever others fail', async (t) => {
  const clock = fakeClock(10_000);
  const store = new FixedWindowCounter({ now: clock.now });
  t.teardown(() => store.close());
  const limiter = new AdminLimiter(store, { perMinute: 5, failuresPerMinute: 50 });
  // More distinct failing sources than the old limiter's 100,000-key table held before it merged
  // every newcomer (the operator's token included) into one shared bucket.
  let answered = 0;
  for (let i = 0; i < 120_000; i++) if (limiter.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`) === 0) answered++;
  t.equal(answered, 50, 'rotating sources get the global budget of failures, no more');
  for (let i = 0; i < 5; i++) t.equal(limiter.valid('operator'), 0, `valid request ${i + 1} passes`);
  t.equal(limiter.valid('operator'), 50, "the token's own limit applies, with the seconds left");
  t.equal(limiter.valid('second-operator'), 0, 'another valid token has its own count');
  t.ok(store.size <= 50 + 2 + 1, `memory bounded by the failure budget: ${store.size} counters`);
  clock.advance(50_000);
  t.equal(limiter.failed('10.0.0.1'), 0, 'a new window, a new budget');
  t.equal(limiter.valid('operator'), 0);
});

t.test('admin: failures are limited per network, and refusals are not counted', async (t) => {
  const clock = fakeClock();
  const store = new FixedWindowCounter({ now: clock.now });
  t.teardown(() => store.close());
  const limiter = new AdminLimiter(store, { perMinute: 3, failuresPerMinute: 10 });
  for (let i = 0; i < 3; i++) t.equal(limiter.failed('2001:db8:1:2::/64'), 0);
  t.equal(limiter.failed('2001:db8:1:2::/64'), 60, 'the 4th failure of a network is refused');
  t.equal(limiter.failed('2001:db8:1:2::/64'), 60, 'and refusals do not use up the global budget...');
  for (let i = 0; i < 7; i++) t.equal(limiter.failed(`192.0.2.${i}`), 0, '...which other networks still have');
  t.equal(limiter.failed('192.0.2.200'), 60, 'until it is spent');
});

t.test('client networks: IPv4 alone, IPv6 by /64, IPv4-mapped IPv6 as IPv4', async (t) => {
  t.equal(networkOf('203.0.113.7'), '203.0.113.7');
  t.equal(networkOf('::ffff:203.0.113.7'), '203.0.113.7', 'dotted IPv4-mapped');
  t.equal(networkOf('::ffff:cb00:7107'), '203.0.113.7', 'hex IPv4-mapped');
  t.equal(networkOf('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  t.equal(networkOf('2001:0db8:0001:0002:ffff:ffff:ffff:fffe'), '2001:db8:1:2::/64', 'the whole /64 is one network');
  t.equal(networkOf('2001:db8:1:2:3:4:5:6%eth0'), '2001:db8:1:2::/64', 'zone ids are ignored');
  t.equal(networkOf('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(networkOf('::1'), '0:0:0:0::/64');
  t.not(networkOf('2001:db8:1:3::1'), networkOf('2001:db8:1:2::1'), 'another /64 is another network');
  t.equal(networkOf('not-an-address'), 'raw:not-an-address');
  t.equal(networkOf(undefined), 'unknown');
});

t.test('TRUST_PROXY: true/false, a hop count, or proxy addresses and CIDRs', async (t) => {
  const base = { NODE_ENV: 'test', ADMIN_TOKENS: 'a'.repeat(24), MASTER_KEYS: `k1:${Buffer.alloc(32).toString('base64')}` };
  const trust = (v?: string) => loadDevConfig({ ...base, ...(v === undefined ? {} : { TRUST_PROXY: v }) }).trustProxy;
  t.equal(trust(), false);
  t.equal(trust('false'), false);
  t.equal(trust('true'), true);
  t.equal(trust('2'), 2);
  t.same(trust('10.0.0.0/8, 192.168.1.4,fd00::/8,loopback'), ['10.0.0.0/8', '192.168.1.4', 'fd00::/8', 'loopback']);
  for (const bad of ['yes', '10.0.0.0/33', '300.1.1.1', 'fd00::/129', '10.0.0.1/8/1']) {
    t.throws(() => trust(bad), /TRUST_PROXY/, `"${bad}" is refused`);
  }
  const hops = fastifyTrustProxy(2) as (address: string, hop: number) => boolean;
  t.equal(typeof hops, 'function', 'a hop count is handed to Fastify as a function (a bare number trusts nothing there)');
  t.same([0, 1, 2].map((i) => hops('10.0.0.1', i)), [true, true, false], 'two hops from the socket are trusted');
  t.same(fastifyTrustProxy(['10.0.0.0/8']), ['10.0.0.0/8']);
  t.equal(fastifyTrustProxy(true), true);
});

t.test('rate-limit settings: the admin failure budget and the sync interval', async (t) => {
  const base = { NODE_ENV: 'test', ADMIN_TOKENS: 'a'.repeat(24), MASTER_KEYS: `k1:${Buffer.alloc(32).toString('base64')}` };
  t.match(loadDevConfig(base).rateLimit, { adminPerMinute: 600, adminFailuresPerMinute: 1200, syncIntervalMs: 200 });
  t.match(loadDevConfig({ ...base, RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '50', RATE_LIMIT_SYNC_INTERVAL_MS: '100' }).rateLimit, { adminFailuresPerMinute: 50, syncIntervalMs: 100 });
  t.throws(() => loadDevConfig({ ...base, RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '0' }), /RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE/);
});

t.test('shared counters with Redis unreachable: counted in this process, never failing, logged once', async (t) => {
  const port = await freePort();
  const lines: string[] = [];
  const log = { warn: (_o: object, msg: string) => { lines.push(`warn ${msg}`); }, info: (_o: object, msg: string) => { lines.push(`info ${msg}`); } };
  const clock = fakeClock(20_000);
  const store = new SharedWindowStore({ redisUrl: `redis://127.0.0.1:${port}`, prefix: 'test', log, now: clock.now, syncIntervalMs: 10 });
  t.teardown(() => store.close());
  const counter = new SharedTenantUserCounter(store);
  await waitFor(() => lines.length > 0, 'the connection failure to be noticed');
  const answers: number[] = [];
  for (let i = 0; i < 5; i++) {
    const wait = counter.consume('t1', 'dave', 100, 3);
    answers.push(typeof wait === 'number' ? wait : await wait);
  }
  t.same(answers, [0, 0, 0, 40, 40], 'the limit still holds, per process');
  await store.flush();
  t.same(lines.filter((l) => l.startsWith('warn')), ['warn rate-limit counters: Redis unreachable, counting in this process only until it is back'], 'one warning, however many attempts');
});
