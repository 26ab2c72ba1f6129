/**
 * Import benchmark: how fast an NDJSON file of group snapshots goes into the desired state.
 *
 * Setup (loopback, real): embedded PostgreSQL, the Virgil emulator (onboarding only), one tenant.
 * A file of GROUPS snapshots (3 members each, none registered) is generated as a stream, received
 * the way `POST …/imports` receives it (src/imports/upload.ts: split, checked, spooled), then applied
 * by the import runner (src/imports/runner.ts) with no backlog limit and no worker. Then the same
 * file again: every snapshot is a repeat, nothing changes. Figures: lines/s received, groups/s
 * applied, and the process's peak RSS.
 *
 * `tsx bench/import-throughput.ts` prints the table; `runImportBench()` returns the rows.
 * Settings: BENCH_IMPORT_GROUPS (default 20,000), BENCH_IMPORT_BATCH (default 500).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { createAppContext } from '../src/app/build-context.js';
import { loadDevConfig } from '../src/config/config.js';
import { createDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrator.js';
import { SessionLocks } from '../src/db/session-locks.js';
import { startEmulator } from '../src/http/emulator/index.js';
import { CometChatClients } from '../src/imports/cometchat-reader.js';
import { findImport } from '../src/imports/import-repository.js';
import { ImportRunner } from '../src/imports/runner.js';
import { receiveNdjsonPart } from '../src/imports/upload.js';
import { createLogger } from '../src/lib/logger.js';
import { startThrowawayPostgres } from '../src/local/embedded-postgres.js';

export interface ImportBenchRow { phase: string; items: number; seconds: number; perSecond: number }

function* ndjson(groups: number, asOf: string): Generator<Buffer> {
  let chunk: string[] = [];
  for (let i = 0; i < groups; i++) {
    chunk.push(JSON.stringify({ guid: `bench-group-${i}`, owner: `owner-${i % 500}`, members: [`user-${i}`, `user-${(i + 1) % groups}`, `user-${(i * 7) % groups}`], asOf }));
    if (chunk.length === 1000) {
      yield Buffer.from(`${chunk.join('\n')}\n`);
      chunk = [];
    }
  }
  if (chunk.length > 0) yield Buffer.from(`${chunk.join('\n')}\n`);
}

export async function runImportBench(opts: { groups?: number; batchSize?: number } = {}): Promise<{ rows: ImportBenchRow[]; peakRssMiB: number }> {
  const groups = opts.groups ?? Number(process.env.BENCH_IMPORT_GROUPS ?? 20_000);
  const batchSize = opts.batchSize ?? Number(process.env.BENCH_IMPORT_BATCH ?? 500);
  const stops: Array<() => Promise<unknown>> = [];
  try {
    const pg = await startThrowawayPostgres();
    stops.push(() => pg.stop());
    const emulator = await startEmulator({ port: 0 });
    stops.push(() => emulator.close());
    const migrations = createDatabase(pg.url, { max: 1 });
    await migrate(migrations.pool);
    await migrations.close();

    const config = loadDevConfig({
      NODE_ENV: 'production', DATABASE_URL: pg.url, VIRGIL_API_URL: emulator.url, ADMIN_TOKENS: randomBytes(24).toString('base64url'),
      MASTER_KEYS: `bench:${randomBytes(32).toString('base64')}`, LOG_LEVEL: 'warn',
    });
    const log = createLogger({ level: 'warn', destination: new Writable({ write(_c, _e, cb) { cb(); } }) });
    const reconcile = { async request() {}, async requestMany() {}, userActive() {}, async keysChanged() {}, async close() {} };
    const ctx = await createAppContext(config, { log, databaseUrl: pg.url, virgilApiUrl: emulator.url, reconcile });
    stops.push(() => ctx.close());
    const appId = 'bench-import';
    await ctx.tenantService.onboard({ appId, virgil: await emulator.createApp(), userAuth: { algorithm: 'HS256', secret: randomBytes(32).toString('base64url') } });

    const locks = SessionLocks.fromPool(ctx.pool);
    stops.push(() => locks.close());
    const runner = new ImportRunner({
      db: ctx.db, locks, log, tenants: ctx.tenants, reconcile,
      cometchat: new CometChatClients({ apiUrl: config.cometchatApiUrl, perPage: 1000, concurrency: 1 }),
      batchSize, maxBacklog: 100_000_000, pollIntervalMs: 20, backlogPollMs: 100, concurrency: 1, retryAfterMs: 1_000,
    });
    runner.start();
    stops.push(() => runner.stop());

    const asOf = new Date(Date.now() - 60_000).toISOString();
    const rows: ImportBenchRow[] = [];
    for (const phase of ['new groups', 'the same file again (no change)']) {
      let started = performance.now();
      const record = await receiveNdjsonPart(ctx.db, { tenantId: appId, complete: true, body: Readable.from(ndjson(groups, asOf)), maxBytes: 1024 ** 3 });
      const received = (performance.now() - started) / 1000;
      rows.push({ phase: `receive (split, check, spool): ${phase}`, items: groups, seconds: received, perSecond: groups / received });
      started = performance.now();
      for (;;) {
        const current = await findImport(ctx.db, record.id);
        if (current?.status === 'completed') break;
        if (current?.status === 'failed') throw new Error(`import failed: ${JSON.stringify(current.lastError)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const applied = (performance.now() - started) / 1000;
      rows.push({ phase: `apply into the desired state: ${phase}`, items: groups, seconds: applied, perSecond: groups / applied });
    }
    return { rows, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}

export function formatImportBench(result: { rows: ImportBenchRow[]; peakRssMiB: number }): string {
  const lines = ['| import phase | groups | seconds | groups/s |', '|---|---|---|---|'];
  for (const r of result.rows) lines.push(`| ${r.phase} | ${r.items.toLocaleString('en')} | ${r.seconds.toFixed(1)} | ${Math.round(r.perSecond).toLocaleString('en')} |`);
  lines.push(`\npeak RSS of the process (receiving and applying): ${result.peakRssMiB.toFixed(0)} MiB`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runImportBench();
  console.log(formatImportBench(result));
  process.exit(0);
}
