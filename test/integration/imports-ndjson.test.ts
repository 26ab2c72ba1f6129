/**
 * NDJSON imports through the admin API and the import runner, without the group worker: refused
 * lines reported by number and code and changing nothing, uploads in parts cut anywhere and resumed
 * from the server's offset, backpressure against the reconcile backlog, and 20,000 groups uploaded
 * by `npm run import` while the process applying them is killed half way and replaced (peak RSS of
 * the applying processes printed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import t from 'tap';
import { SessionLocks } from '../../src/db/session-locks.js';
import { CometChatClients } from '../../src/imports/cometchat-reader.js';
import { ImportRunner, type ImportRunnerOptions } from '../../src/imports/runner.js';
import { startTestApp } from '../helpers/app.js';
import { desiredGroup } from '../helpers/db.js';
import { RecordingRequester } from '../helpers/recording-requester.js';
import { waitFor } from '../helpers/wait.js';

const PART_MAX_BYTES = 256 * 1024;
const recorder = new RecordingRequester();
const h = await startTestApp(t, { reconcile: recorder, listen: true, env: { IMPORT_PART_MAX_BYTES: String(PART_MAX_BYTES) } });
const tenant = await h.onboardTenant();
const db = h.ctx.db;
const base = `/admin/v1/tenants/${tenant.appId}/imports`;
const asOf = new Date(Date.now() - 3_600_000).toISOString();
const line = (guid: string, members: string[], extra: Record<string, unknown> = {}) => JSON.stringify({ guid, members, asOf, ...extra });

// Each runner stands for a worker process: its own lock connection.
function runner(opts: Partial<ImportRunnerOptions> = {}) {
  const locks = SessionLocks.fromPool(h.ctx.pool);
  t.teardown(() => locks.close());
  const r = new ImportRunner({
    db, locks, log: h.ctx.log, tenants: h.ctx.tenants, reconcile: recorder,
    cometchat: new CometChatClients({ apiUrl: h.ctx.config.cometchatApiUrl, perPage: 1000, concurrency: 1 }),
    batchSize: 50, maxBacklog: 1_000_000, pollIntervalMs: 50, backlogPollMs: 50, concurrency: 2, retryAfterMs: 500, ...opts,
  });
  r.start();
  return r;
}

function upload(url: string, body: string) {
  return h.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/x-ndjson' }, payload: body });
}

async function view(id: string, errors = 100) {
  const res = await h.admin('GET', `${base}/${id}?errors=${errors}`);
  if (res.statusCode !== 200) throw new Error(`GET import: ${res.statusCode} ${res.body}`);
  return res.json().data;
}

const completed = (id: string) => waitFor(async () => {
  const v = await view(id);
  return v.status === 'completed' ? v : undefined;
}, `import ${id} completed`, 60_000);

const groupCount = async (tenantId: string) => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM groups WHERE tenant_id = ${tenantId}`.execute(db)).rows[0].n);

const first = runner();

t.test('refused lines are reported by number and code and change nothing; the rest is applied', async (t) => {
  const file = [
    line('imp-a', ['alice', 'bob'], { owner: 'olivia' }),
    '{"guid": "imp-broken", "members": [',
    '',
    line('imp-b', ['carol']),
    line('imp-bad-asof', ['dave'], { asOf: 'yesterday' }),
    line('imp-extra', ['erin'], { color: 'blue' }),
    line('imp-bad-member', ['has space']),
    JSON.stringify({ guid: 'imp-a', deleted: true, asOf: new Date(Date.parse(asOf) - 1000).toISOString() }),
    line('imp-c', []),
  ].join('\n');
  const res = await upload(base, `${file}\n`);
  t.equal(res.statusCode, 201, 'created');
  const created = res.json().data;
  t.match(created, { id: /^imp_[0-9a-f]{24}$/, source: 'ndjson', status: 'queued', upload: { receivedLines: 9, complete: true }, errors: { count: 4 } });

  const done = await completed(created.id);
  t.match(done.progress, { processed: 9, total: 9, groupsApplied: 4, groupsChanged: 3, groupsCreated: 3 });
  t.same(done.errors.items.map((e: { line: number; code: string }) => [e.line, e.code]), [
    [2, 'IMPORT_LINE_NOT_JSON'], [5, 'SNAPSHOT_AS_OF_INVALID'], [6, 'IMPORT_LINE_INVALID'], [7, 'SNAPSHOT_ID_INVALID'],
  ], 'each refused line by number and code');
  t.match(done.errors.items[2], { guid: 'imp-extra', message: /unknown field "color"/ });

  t.same((await desiredGroup(db, tenant.appId, 'imp-a'))?.members, ['alice', 'bob', 'olivia'], 'an older deletion in the same file loses');
  t.same((await desiredGroup(db, tenant.appId, 'imp-b'))?.members, ['carol']);
  t.same((await desiredGroup(db, tenant.appId, 'imp-c'))?.members, []);
  for (const guid of ['imp-broken', 'imp-bad-asof', 'imp-extra', 'imp-bad-member']) t.equal(await desiredGroup(db, tenant.appId, guid), null, `${guid} was not touched`);
  const lines = await db.selectFrom('import_lines').select('line').where('import_id', '=', created.id).execute();
  t.same(lines, [], 'spooled lines are gone once applied');
  t.ok(recorder.requests.some((r) => r.guid === 'imp-a'), 'reconciles were requested');
});

t.test('an upload in parts cut anywhere, resumed from the server\'s offset', async (t) => {
  const body = Buffer.from(`${[line('part-é', ['josé', '李雷']), line('part-2', ['b']), line('part-3', ['c'])].join('\n')}\n${line('part-4', ['d'])}`);
  const cuts = [7, 40, 41, body.length - 5];
  let res = await h.app.inject({ method: 'POST', url: `${base}?complete=false`, headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/x-ndjson' }, payload: body.subarray(0, cuts[0]) });
  t.equal(res.statusCode, 201);
  const id = res.json().data.id;
  t.match(res.json().data, { status: 'receiving', upload: { receivedBytes: cuts[0], receivedLines: 0, complete: false } });
  const part = (from: number, to: number, offset = from, complete = false) => h.app.inject({
    method: 'POST', url: `${base}/${id}/parts?offset=${offset}&complete=${complete}`,
    headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/x-ndjson' }, payload: body.subarray(from, to),
  });

  res = await part(cuts[0], cuts[1], cuts[0] + 3);
  t.equal(res.statusCode, 409, 'a part at the wrong offset');
  t.same(res.json().error, { code: 'IMPORT_OFFSET_MISMATCH', message: res.json().error.message, details: { receivedBytes: cuts[0] } }, 'says where to resume');
  for (let i = 0; i < cuts.length - 1; i++) t.equal((await part(cuts[i], cuts[i + 1])).statusCode, 200, `part ${i + 2}`);
  const view1 = await view(id);
  t.match(view1, { status: 'receiving', upload: { receivedBytes: cuts[cuts.length - 1], receivedLines: 3 } });
  t.equal((await desiredGroup(db, tenant.appId, 'part-é')), null, 'nothing is applied before the upload is complete');
  res = await part(cuts[cuts.length - 1], body.length, cuts[cuts.length - 1], true);
  t.equal(res.statusCode, 200);
  t.match(res.json().data, { status: 'queued', upload: { receivedBytes: body.length, receivedLines: 4, complete: true } });
  t.equal((await part(body.length, body.length, body.length, true)).json().error.code, 'IMPORT_UPLOAD_COMPLETE');

  const done = await completed(id);
  t.match(done, { progress: { processed: 4, groupsApplied: 4 }, errors: { count: 0 } });
  t.same((await desiredGroup(db, tenant.appId, 'part-é'))?.members, ['josé', '李雷'], 'a character cut between two parts is whole');
  t.same((await desiredGroup(db, tenant.appId, 'part-4'))?.members, ['d'], 'the last line without a newline counts');
});

t.test('`npm run import -- --resume` finishes an upload cut off after its first part', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'e2ee-resume-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'groups.ndjson');
  const body = `${Array.from({ length: 30 }, (_, i) => line(`resume-${i}`, [`u${i}`])).join('\n')}\n`;
  await writeFile(file, body);
  const res = await h.app.inject({
    method: 'POST', url: `${base}?complete=false`,
    headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/x-ndjson' }, payload: Buffer.from(body).subarray(0, 333),
  });
  const id = res.json().data.id;
  const cli = startChild(['src/bin/import.ts', '--tenant', tenant.appId, '--resume', id, '--part-bytes', '1024', file], {
    E2EE_ADMIN_URL: `${h.url}/admin`, E2EE_ADMIN_TOKEN: h.adminToken,
  });
  t.equal(await cli.exited, 0);
  t.match(JSON.parse(cli.lines.at(-1)!), { id, status: 'completed', upload: { receivedBytes: Buffer.byteLength(body), receivedLines: 30 }, progress: { groupsApplied: 30 } },
    'the rest of the file was sent from the server\'s offset and applied');
});

t.test('a part over the size limit, a JSON body, an unknown import: refused, nothing created', async (t) => {
  const before = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM imports`.execute(db)).rows[0].n);
  let res = await upload(base, `${line('big', ['x'.repeat(200)])}\n`.repeat(Math.ceil(PART_MAX_BYTES / 200) + 10));
  t.equal(res.statusCode, 413);
  t.equal(res.json().error.code, 'IMPORT_PART_TOO_LARGE');
  res = await h.admin('POST', base, { source: 'twilio' });
  t.equal(res.statusCode, 400);
  res = await h.admin('POST', base, { source: 'cometchat' });
  t.equal(res.json().error.code, 'COMETCHAT_NOT_CONFIGURED', 'a CometChat import needs credentials');
  res = await h.admin('GET', `${base}/imp_${'0'.repeat(24)}`);
  t.equal(res.json().error.code, 'IMPORT_NOT_FOUND');
  t.equal(Number((await sql<{ n: string }>`SELECT count(*) AS n FROM imports`.execute(db)).rows[0].n), before);
});

t.test('backpressure: an import waits while the tenant\'s reconcile backlog is full', async (t) => {
  await first.stop();
  const other = await h.onboardTenant();
  const throttled = runner({ maxBacklog: 10, batchSize: 5 });
  t.teardown(() => throttled.stop());
  const file = Array.from({ length: 40 }, (_, i) => line(`bp-${i}`, [`m${i}`])).join('\n');
  const res = await upload(`/admin/v1/tenants/${other.appId}/imports`, file);
  const id = res.json().data.id;
  const otherView = async () => (await h.admin('GET', `/admin/v1/tenants/${other.appId}/imports/${id}`)).json().data;
  const paused = await waitFor(async () => { const v = await otherView(); return v.waitingForWorker ? v : undefined; }, 'the import to wait for the worker');
  t.ok(paused.progress.groupsApplied >= 10 && paused.progress.groupsApplied <= 15, `paused with ${paused.progress.groupsApplied} groups in front of the worker (at most the backlog limit plus one batch)`);
  t.equal(paused.status, 'running');
  // A stand-in for the worker: everything recorded so far counts as reconciled, again and again.
  const done = await waitFor(async () => {
    await sql`UPDATE groups SET synced_version = desired_version WHERE tenant_id = ${other.appId}`.execute(db);
    const v = await otherView();
    return v.status === 'completed' ? v : undefined;
  }, 'the import to finish as the backlog drains');
  t.match(done, { waitingForWorker: false, progress: { groupsApplied: 40 } });
  await throttled.stop();
});

interface Child { process: ChildProcess; lines: string[]; exited: Promise<number | null> }

function startChild(args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  child.stderr!.on('data', () => {});
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  return { process: child, lines, exited };
}

const peakRssKb = async (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);

t.test('20,000 groups through `npm run import`, the applying process killed half way and replaced', async (t) => {
  const big = await h.onboardTenant();
  const dir = await mkdtemp(path.join(tmpdir(), 'e2ee-import-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'groups.ndjson');
  const total = 20_000;
  const lines: string[] = [];
  // Members are not registered on Virgil: nothing heavy would happen there.
  for (let i = 0; i < total; i++) lines.push(line(`big-${i}`, [`user-${i}`, `user-${(i + 1) % total}`, `user-${(i * 7) % total}`], { owner: `owner-${i % 100}` }));
  await writeFile(file, `${lines.join('\n')}\n`);
  const runnerEnv = {
    DATABASE_URL: h.databaseUrl, MASTER_KEYS: h.masterKeys, NODE_ENV: 'test', LOG_LEVEL: 'warn', IMPORT_BATCH_SIZE: '1000', IMPORT_POLL_INTERVAL_MS: '100',
  };

  const cli = startChild(['src/bin/import.ts', '--tenant', big.appId, '--part-bytes', String(PART_MAX_BYTES), file], {
    E2EE_ADMIN_URL: `${h.url}/admin`, E2EE_ADMIN_TOKEN: h.adminToken,
  });
  // The first runner stops at half the groups: no worker reconciles, so a 10,000-group backlog fills.
  const runner1 = startChild(['test/helpers/import-runner-process.ts'], { ...runnerEnv, IMPORT_MAX_BACKLOG: String(total / 2) });
  const importRow = await waitFor(() => db.selectFrom('imports').selectAll().where('tenant_id', '=', big.appId).where('status', '=', 'running').executeTakeFirst(),
    'the first runner to take the import', 60_000);
  const halfway = await waitFor(async () => {
    const row = await db.selectFrom('imports').selectAll().where('id', '=', importRow.id).executeTakeFirstOrThrow();
    return row.waiting_for_worker ? row : undefined;
  }, 'the first runner to pause half way', 60_000);
  const rss1 = await peakRssKb(runner1.process.pid!);
  runner1.process.kill('SIGKILL');
  await runner1.exited;
  t.ok(Number(halfway.processed) >= total / 2 && Number(halfway.processed) < total, `killed after ${halfway.processed} of ${total} lines`);
  t.equal(halfway.status, 'running');

  // The replacement (here, in the test's process) takes over from the checkpoint.
  const replacement = runner({ batchSize: 1000 });
  t.teardown(() => replacement.stop());
  const cliCode = await cli.exited;
  t.equal(cliCode, 0, 'npm run import ends with success once the import completed');
  const final = JSON.parse(cli.lines.at(-1)!);
  t.match(final, { status: 'completed', upload: { receivedLines: total, complete: true }, progress: { processed: total, total, groupsApplied: total, groupsCreated: total }, errors: { count: 0 } },
    'every group applied exactly once across the two runners');
  t.equal(await groupCount(big.appId), total);
  t.same((await desiredGroup(db, big.appId, 'big-12345'))?.members, ['owner-45', 'user-12345', 'user-12346', 'user-6415'].sort());
  t.equal(Number((await sql<{ n: string }>`SELECT count(*) AS n FROM import_lines`.execute(db)).rows[0].n), 0, 'the spool is empty');

  await replacement.stop();
  t.comment(`peak RSS: ${(rss1 / 1024).toFixed(0)} MiB for the process that applied the first 10,000 groups and was killed; `
    + `file ${(Buffer.byteLength(lines.join('\n')) / 1024 / 1024).toFixed(1)} MiB; the test's own process (API receiving the upload, runner finishing) ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  t.ok(rss1 < 400 * 1024, 'bounded memory: the applying process stayed under 400 MiB');
});
