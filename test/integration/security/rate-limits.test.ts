/**
 * Rate limits under attack, through the real app: a brute force of admin tokens from rotating
 * sources (forged X-Forwarded-For values behind TRUST_PROXY=true, many addresses of one IPv6 /64)
 * is slowed by the per-network and global failure limits and never locks out a valid token; and with
 * REDIS_URL, two API instances sharing one Redis share one per-user limit.
 * The windows follow the real clock: each sequence runs again if a minute boundary fell inside it.
 */
import { Redis } from 'ioredis';
import t from 'tap';
import { startTestApp } from '../../helpers/app.js';
import { virgilJwtCall } from '../../helpers/extension-client.js';
import { waitFor } from '../../helpers/wait.js';
import { sameWindow } from '../../helpers/windows.js';

const h = await startTestApp(t);
const WRONG = `Bearer ${'w'.repeat(40)}`;

t.test('rotating X-Forwarded-For values behind TRUST_PROXY=true: budget spent, operator unaffected', async (t) => {
  const { value: run } = await sameWindow(async () => {
    const app = await startTestApp(t, { shareWith: h, env: { TRUST_PROXY: 'true', RATE_LIMIT_ADMIN_PER_MINUTE: '5', RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '40' } });
    const call = (authorization: string, forwardedFor: string) => app.app.inject({
      method: 'GET', url: '/admin/v1/tenants?limit=1', headers: { authorization, 'x-forwarded-for': forwardedFor },
    });
    const guesses: number[] = [];
    const operator: number[] = [];
    for (let i = 0; i < 200; i++) {
      // Every guess claims a fresh client address; the client writes the left-most entry.
      guesses.push((await call(WRONG, `198.51.${i >> 8}.${i & 255}, 10.0.0.1`)).statusCode);
      if (i % 50 === 49) operator.push((await call(`Bearer ${h.adminToken}`, `198.51.100.${i}`)).statusCode);
    }
    const guessAfter = await call(WRONG, '203.0.113.99');
    return { guesses, operator, guessAfter };
  });
  t.equal(run.guesses.filter((s) => s === 401).length, 40, 'only the global failure budget of guesses is answered');
  t.equal(run.guesses.filter((s) => s === 429).length, 160, 'the rest are refused unanswered');
  t.same(run.guesses.slice(0, 40), new Array(40).fill(401), 'the budget is used first come, first served');
  t.same(run.operator, [200, 200, 200, 200], 'the valid token passes throughout');
  t.equal(run.guessAfter.statusCode, 429);
  t.ok(Number(run.guessAfter.headers['retry-after']) >= 1, 'with Retry-After');
});

t.test('addresses of one IPv6 /64 (and IPv4-mapped addresses) count as one network', async (t) => {
  const { value: run } = await sameWindow(async () => {
    const app = await startTestApp(t, { shareWith: h, env: { RATE_LIMIT_ADMIN_PER_MINUTE: '5' } });
    const call = (authorization: string, remoteAddress: string) => app.app.inject({
      method: 'GET', url: '/admin/v1/tenants?limit=1', headers: { authorization }, remoteAddress,
    });
    const sameSlash64: number[] = [];
    for (let i = 1; i <= 8; i++) sameSlash64.push((await call(WRONG, `2001:db8:1:2::${i.toString(16)}`)).statusCode);
    const otherSlash64 = (await call(WRONG, '2001:db8:1:3::1')).statusCode;
    const operatorInside = (await call(`Bearer ${h.adminToken}`, '2001:db8:1:2::99')).statusCode;
    const mapped: number[] = [];
    for (let i = 0; i < 5; i++) mapped.push((await call(WRONG, '::ffff:203.0.113.7')).statusCode);
    const plainV4 = (await call(WRONG, '203.0.113.7')).statusCode;
    return { sameSlash64, otherSlash64, operatorInside, mapped, plainV4 };
  });
  t.same(run.sameSlash64, [401, 401, 401, 401, 401, 429, 429, 429], 'five failures per /64, whichever address sends them');
  t.equal(run.otherSlash64, 401, 'another /64 is another network');
  t.equal(run.operatorInside, 200, 'a valid token from the limited /64 still passes');
  t.same(run.mapped, [401, 401, 401, 401, 401]);
  t.equal(run.plainV4, 429, '::ffff:203.0.113.7 and 203.0.113.7 are one client');
});

t.test('with Redis, two instances share one per-user limit', async (t) => {
  const redisUrl = process.env.TEST_REDIS_URL;
  if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: run the suite with `npm test`');
  const redis = new Redis(redisUrl);
  t.teardown(() => redis.quit());
  const env = { REDIS_URL: redisUrl, RATE_LIMIT_USER_PER_MINUTE: '10' };
  const a = await startTestApp(t, { shareWith: h, env });
  const b = await startTestApp(t, { shareWith: h, env });
  const { value: run } = await sameWindow(async () => {
    const tenant = await a.onboardTenant();
    const token = tenant.userToken('dave');
    const onA: number[] = [];
    for (let i = 0; i < 6; i++) onA.push((await virgilJwtCall(a.app, tenant.appId, token)).statusCode);
    // A's counts reach Redis within one sync interval: wait for them there, as B would see them.
    await waitFor(async () => {
      const keys = await redis.keys(`e2ee:rl:api:*:u:${tenant.appId}:dave`);
      return keys.length === 1 && Number(await redis.get(keys[0])) === 6;
    }, "the first instance's counts to reach Redis");
    const onB: number[] = [];
    for (let i = 0; i < 6; i++) onB.push((await virgilJwtCall(b.app, tenant.appId, token)).statusCode);
    return { onA, onB };
  });
  t.same(run.onA, [200, 200, 200, 200, 200, 200]);
  t.same(run.onB, [200, 200, 200, 200, 429, 429], 'the second instance starts from the fleet count: 10 in all');
});

t.test('with Redis unreachable, requests are counted locally and never fail', async (t) => {
  const app = await startTestApp(t, { shareWith: h, env: { REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_USER_PER_MINUTE: '3' } });
  const { value: run } = await sameWindow(async () => {
    const tenant = await app.onboardTenant();
    const token = tenant.userToken('erin');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await virgilJwtCall(app.app, tenant.appId, token)).statusCode);
    return { statuses };
  });
  t.same(run.statuses, [200, 200, 200, 429], 'the limit holds in this process');
  const outageLines = () => app.logLines.filter((l) => l.includes('Redis unreachable')).length;
  await waitFor(() => outageLines() >= 2, 'the outage to be logged by both counter families (API, admin)');
  for (let i = 0; i < 3; i++) await virgilJwtCall(app.app, undefined, undefined);
  t.equal(outageLines(), 2, 'once each, however many reconnection attempts and requests');
});
