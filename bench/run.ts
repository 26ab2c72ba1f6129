/**
 * `npm run bench`: measures our extension API against a naive baseline and a bare ceiling (plus the
 * same ceiling with our own signer, for information) in one run, on loopback, with autocannon in
 * this process and each server in its own child process.
 *
 * Every scenario is prepared and warmed up first; then the measured time is split into rounds and
 * the scenarios take turns (a different one first in each round), so a noisy neighbour or a CPU
 * frequency change during the run affects all of them alike; each figure is the median round.
 * The rounds are spread over several processes of every server (BENCH_PROCESSES): two processes of
 * identical code differ by several percent on these machines (memory layout, which core they land
 * on), and one process per server would let that lottery decide a ratio.
 * Prints a table and the targets of GET /v1/virgil-jwt (PASS/FAIL). It is a report: the exit code
 * is 0 even when a target is missed, and non-zero only when the run itself failed.
 *
 * Settings: BENCH_DURATION_SECONDS (measured seconds per scenario, default 9), BENCH_ROUNDS (9),
 * BENCH_PROCESSES (3; each server is restarted and warmed up again between them), BENCH_WARMUP_SECONDS (2), BENCH_CONNECTIONS (50), BENCH_USERS (20000), BENCH_ONLY (scenario ids),
 * BENCH_CPU_PROF (a folder: each server writes a V8 CPU profile there when it stops).
 *
 * Then the group worker: webhook-to-synced latency for BENCH_WORKER_GROUPS groups changed in
 * parallel, and group operations per second (bench/worker-latency.ts; `BENCH_ONLY=worker` alone);
 * then imports: NDJSON snapshots into the desired state (bench/import-throughput.ts; `BENCH_ONLY=import`).
 * The scale benchmark (bench/scale.ts: API and worker processes, many tenants, Virgil latency,
 * webhook intake, a flood, a soak) runs only when asked: `BENCH_ONLY=scale`.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCallerTokens } from './lib/caller-tokens.js';
import { mergeRounds, type LoadResult } from './lib/load.js';
import { startService, type RunningService } from './lib/service-fixture.js';
import { formatTable, formatTargets } from './lib/table.js';
import { virgilJwtTargets } from './lib/targets.js';
import type { BenchContext, PreparedScenario, Scenario, ScenarioRow } from './lib/types.js';
import { scenarios } from './scenarios/index.js';
import { BASELINE_ID } from './scenarios/baseline-virgil-jwt.js';
import { CEILING_ID, CEILING_SAME_SIGNER_ID } from './scenarios/ceiling-virgil-jwt.js';
import { OURS_VIRGIL_JWT_ID } from './scenarios/ours-virgil-jwt.js';
import { OURS_VIRGIL_JWT_REDIS_ID } from './scenarios/ours-virgil-jwt-redis.js';
import { formatWorkerBench, runWorkerBench, type WorkerBenchRow } from './worker-latency.js';
import { formatScaleBench, runScaleBench, type ScaleReport } from './scale.js';
import { formatImportBench, runImportBench, type ImportBenchRow } from './import-throughput.js';
import { OURS_VIRGIL_JWT_JWKS_ID } from './scenarios/ours-virgil-jwt-jwks.js';

function intSetting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be a whole number between ${min} and ${max}`);
  return n;
}

const durationSeconds = intSetting('BENCH_DURATION_SECONDS', 9, 1, 60);
const rounds = intSetting('BENCH_ROUNDS', 9, 1, durationSeconds);
const processes = intSetting('BENCH_PROCESSES', Math.min(3, rounds), 1, rounds);
const warmupSeconds = intSetting('BENCH_WARMUP_SECONDS', 2, 0, 30);
const connections = intSetting('BENCH_CONNECTIONS', 50, 1, 1000);
const userCount = intSetting('BENCH_USERS', 20_000, 1, 200_000);
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
const selected = only ? scenarios.filter((s) => only.includes(s.id)) : scenarios;
const WORKER_ID = 'worker';
const SCALE_ID = 'scale';
const runWorker = !only || only.includes(WORKER_ID);
const runScale = only?.includes(SCALE_ID) ?? false;
const IMPORT_ID = 'import';
const runImport = !only || only.includes(IMPORT_ID);
const roundSeconds = Math.max(1, Math.round(durationSeconds / rounds));

const started = Date.now();
const workDir = await mkdtemp(path.join(tmpdir(), 'e2ee-bench-'));
const prepared: Array<{ scenario: Scenario; run: PreparedScenario; rounds: LoadResult[] }> = [];
let service: RunningService | null = null;
const cleanup = async () => {
  for (const p of prepared.splice(0)) await p.run.stop().catch((err) => console.error(`  stopping ${p.scenario.id}: ${(err as Error).message}`));
  await service?.stop();
  service = null;
  await rm(workDir, { recursive: true, force: true });
};
process.once('SIGINT', () => { cleanup().finally(() => process.exit(130)); });

const rows: ScenarioRow[] = [];
let failed = false;
try {
  if (selected.length > 0) console.log(`bench: ${selected.length} scenarios × ${rounds} rounds of ${roundSeconds} s (after ${warmupSeconds} s warm-up), `
    + `${connections} connections, ${userCount} distinct callers, ${processes} processes of each server, ${cpus().length} cores, Node ${process.version}`);
  const callers = makeCallerTokens(userCount);
  const callersFile = path.join(workDir, 'callers.json');
  await writeFile(callersFile, JSON.stringify({ tokens: callers.tokens, uids: callers.uids }));
  const appKey = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
  const ctx: BenchContext = {
    durationSeconds, connections, callers, callersFile,
    virgil: { appId: randomBytes(16).toString('hex'), appKeyId: randomBytes(16).toString('hex'), appKey },
  };

  if (selected.some((s) => s.needsService)) {
    process.stdout.write('starting our service (embedded PostgreSQL, emulator, API child process)... ');
    service = await startService(callers.secret);
    ctx.service = service.fixture;
    console.log('ready');
  }
  let round = 0;
  for (let generation = 0; generation < processes; generation++) {
    if (generation > 0) {
      process.stdout.write(`restarting every server (process ${generation + 1}/${processes})... `);
      for (const p of prepared) await p.run.stop();
      await service?.restartApi();
      console.log('done');
    }
    for (const [i, scenario] of selected.entries()) {
      if (generation === 0) process.stdout.write(`preparing ${scenario.name}... `);
      const run = await scenario.prepare(ctx);
      if (generation === 0) prepared.push({ scenario, run, rounds: [] });
      else prepared[i].run = run;
      if (warmupSeconds > 0) await run.measure(warmupSeconds);
      if (generation === 0) console.log('warm');
    }
    // An even share of the rounds for each process.
    const until = Math.round((rounds * (generation + 1)) / processes);
    for (; round < until && prepared.length > 0; round++) {
      process.stdout.write(`round ${round + 1}/${rounds}:`);
      for (let i = 0; i < prepared.length; i++) {
        const p = prepared[(i + round) % prepared.length];
        const result = await p.run.measure(roundSeconds);
        p.rounds.push(result);
        process.stdout.write(` ${p.scenario.id} ${result.requestsPerSecond.toFixed(0)}/s`);
      }
      process.stdout.write('\n');
    }
  }
  for (const p of prepared) rows.push({ id: p.scenario.id, name: p.scenario.name, result: mergeRounds(p.rounds), rounds: p.rounds, note: p.run.note });
} catch (err) {
  failed = true;
  console.error(`\nbench failed: ${(err as Error).stack ?? err}`);
} finally {
  await cleanup();
}

let workerRows: WorkerBenchRow[] = [];
let readdCalls: Record<string, number> = {};
if (runWorker && !failed) {
  try {
    process.stdout.write('\ngroup worker: webhook → synced for groups changed in parallel (Redis queue)... ');
    ({ rows: workerRows, readdCalls } = await runWorkerBench());
    console.log('done');
  } catch (err) {
    failed = true;
    console.error(`\nworker bench failed: ${(err as Error).stack ?? err}`);
  }
}

let importResult: { rows: ImportBenchRow[]; peakRssMiB: number } | null = null;
if (runImport && !failed) {
  try {
    process.stdout.write('imports: NDJSON snapshots into the desired state... ');
    importResult = await runImportBench();
    console.log('done');
  } catch (err) {
    failed = true;
    console.error(`\nimport bench failed: ${(err as Error).stack ?? err}`);
  }
}

let scale: ScaleReport | null = null;
if (runScale && !failed) {
  try {
    console.log('\nscale: API and worker processes, many tenants, Virgil latency on every route...');
    scale = await runScaleBench();
  } catch (err) {
    failed = true;
    console.error(`\nscale bench failed: ${(err as Error).stack ?? err}`);
  }
}

if (rows.length > 0 || workerRows.length > 0 || importResult || scale) {
  if (rows.length > 0) console.log(`\n${formatTable(rows)}\n`);
  const checks = virgilJwtTargets(rows, { ours: OURS_VIRGIL_JWT_ID, baseline: BASELINE_ID, ceiling: CEILING_ID, ceilingSameSigner: CEILING_SAME_SIGNER_ID });
  if (checks.length > 0) console.log(`${formatTargets('targets for GET /v1/virgil-jwt (ours; ratios are the median of per-round ratios):', checks)}\n`);
  const plain = rows.find((r) => r.id === OURS_VIRGIL_JWT_ID);
  const shared = rows.find((r) => r.id === OURS_VIRGIL_JWT_REDIS_ID);
  if (plain && shared) {
    const ratios = shared.rounds.map((r, i) => r.requestsPerSecond / plain.rounds[i].requestsPerSecond).sort((a, b) => a - b);
    console.log(`GET /v1/virgil-jwt with Redis counters / in-memory counters: ${(100 * ratios[Math.floor(ratios.length / 2)]).toFixed(1)}% (median of per-round ratios)\n`);
  }
  const jwks = rows.find((r) => r.id === OURS_VIRGIL_JWT_JWKS_ID);
  if (plain && jwks) {
    const ratios = jwks.rounds.map((r, i) => r.requestsPerSecond / plain.rounds[i].requestsPerSecond).sort((a, b) => a - b);
    console.log(`GET /v1/virgil-jwt with JWKS (RS256) callers / HS256 callers: ${(100 * ratios[Math.floor(ratios.length / 2)]).toFixed(1)}% (median of per-round ratios)\n`);
  }
  if (workerRows.length > 0) console.log(`${formatWorkerBench(workerRows, readdCalls)}\n`);
  if (importResult) console.log(`${formatImportBench(importResult)}\n`);
  if (scale) console.log(`${formatScaleBench(scale)}\n`);
  const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
  await mkdir(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ rounds, roundSeconds, processes, connections, userCount, cores: cpus().length, node: process.version, rows, targets: checks, worker: workerRows, readdCalls, imports: importResult, scale }, null, 2));
  console.log(`results: ${path.relative(process.cwd(), file)}`);
}
console.log(`bench finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
