/**
 * The parts of the worker that let it serve many tenants, without servers: E3Kit's in-memory group
 * store (abstract-leveldown contract as E3Kit uses it, bounded by whole groups), the per-tenant gate
 * (cap and 429 back-off) and queue priorities on injected clocks, and the removal of group-cache
 * folders earlier versions left behind (a LevelDB still open is kept).
 */
import t from 'tap';
import { mkdtemp, mkdir, readdir, rm, utimes } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GroupStoreError, isGroupStoreError, MemoryGroupStore } from '../../src/virgil/group-store.js';
import { removeStaleGroupCaches } from '../../src/virgil/stale-group-caches.js';
import { TenantGate } from '../../src/reconcile/tenant-gate.js';
import { MAX_PRIORITY, TenantPriority } from '../../src/reconcile/tenant-priority.js';

type Callback<T = unknown> = (err: Error | undefined, value?: T) => void;
/** The store's public (abstract-leveldown) face, promisified. */
function api(store: MemoryGroupStore) {
  const s = store as unknown as {
    open(cb: Callback): void;
    get(key: string, options: object, cb: Callback<Buffer | string>): void;
    batch(ops: Array<{ type: 'put' | 'del'; key: string; value?: string }>, options: object, cb: Callback): void;
    clear(options: object, cb: Callback): void;
    iterator(options: object): { next(cb: (err: Error | undefined, key?: Buffer, value?: Buffer) => void): void; end(cb: Callback): void };
  };
  const call = <T>(f: (cb: Callback<T>) => void) => new Promise<T>((resolve, reject) => f((err, value) => (err ? reject(err) : resolve(value as T))));
  return {
    open: () => call((cb) => s.open(cb)),
    get: (key: string) => call<Buffer | string>((cb) => s.get(key, {}, cb)).then(String, () => undefined),
    batch: (ops: Array<{ type: 'put' | 'del'; key: string; value?: string }>) => call((cb) => s.batch(ops, {}, cb)),
    clear: (options: object) => call((cb) => s.clear(options, cb)),
    async keys(options: object): Promise<string[]> {
      const it = s.iterator(options);
      const keys: string[] = [];
      for (;;) {
        const key = await new Promise<Buffer | undefined>((resolve, reject) => it.next((err, k) => (err ? reject(err) : resolve(k))));
        if (key === undefined) break;
        keys.push(key.toString());
      }
      await call((cb) => it.end(cb));
      return keys;
    },
  };
}

// Keys shaped like E3Kit's: a group's info `…!GROUPS!<session>` and its tickets `…<session>!<digits>!<epoch>`.
const session = (n: number) => `!svc!!GROUPS!${String(n).padStart(64, '0')}`;
const ticket = (n: number, epoch: number) => `${session(n)}!${String(epoch).length}!${epoch}`;

t.test('the group store: reads, writes and ranges as E3Kit uses them', async (t) => {
  const store = api(new MemoryGroupStore(1_000_000));
  await store.open();
  await store.batch([
    { type: 'put', key: session(1), value: 'info-1' },
    { type: 'put', key: ticket(1, 0), value: 't0' },
    { type: 'put', key: ticket(1, 1), value: 't1' },
    { type: 'put', key: ticket(1, 10), value: 't10' },
    { type: 'put', key: session(2), value: 'info-2' },
  ]);
  t.equal(await store.get(session(1)), 'info-1');
  t.equal(await store.get(session(3)), undefined, 'a missing key is NotFound');
  // E3Kit's "last N tickets": gt `<session>!`, lte `<session>!\xff`, reversed, limited.
  t.same(await store.keys({ gt: `${session(1)}!`, lte: `${session(1)}!\xff`, reverse: true, limit: 2 }), [ticket(1, 10), ticket(1, 1)]);
  t.same(await store.keys({ gte: session(2) }), [session(2)]);
  t.same(await store.keys({ lt: ticket(1, 0) }), [session(1)]);
  await store.batch([{ type: 'put', key: ticket(1, 1), value: 'replaced' }, { type: 'del', key: ticket(1, 0) }]);
  t.equal(await store.get(ticket(1, 1)), 'replaced');
  t.equal(await store.get(ticket(1, 0)), undefined);
  // E3Kit deletes a group with clear({gt: session, lte: session + '\xff'}).
  await store.clear({ gt: session(1), lte: `${session(1)}\xff` });
  t.same(await store.keys({}), [session(1), session(2)], "the group's tickets are gone, the info key (not in the range) stays");
});

t.test('the group store is bounded: least recently used groups go whole, never the one just written', async (t) => {
  const raw = new MemoryGroupStore(800);
  const store = api(raw);
  await store.open();
  const value = 'x'.repeat(100);
  for (let n = 1; n <= 3; n++) await store.batch([{ type: 'put', key: session(n), value }, { type: 'put', key: ticket(n, 0), value }]);
  t.ok(raw.bytes <= 800, `${raw.bytes} bytes held`);
  t.equal(raw.units, 2, 'two groups fit');
  t.equal(await store.get(session(1)), undefined, 'the oldest group went');
  t.equal(await store.get(ticket(1, 0)), undefined, '...with all its keys');
  await store.get(session(2)); // used: now the most recent
  await store.batch([{ type: 'put', key: session(4), value }]);
  t.ok(await store.get(session(2)), 'a group read recently stays');
  t.equal(await store.get(session(3)), undefined, 'the least recently used one went');
  await store.batch([{ type: 'put', key: ticket(5, 0), value: 'y'.repeat(2_000) }]);
  t.equal(raw.units, 1, 'a group larger than the bound is kept, alone');
  t.ok(await store.get(ticket(5, 0)));
});

t.test('a failure of the store is recognised through the errors that wrap it', async (t) => {
  const failure = new GroupStoreError('disk on fire');
  t.ok(isGroupStoreError(failure));
  t.ok(isGroupStoreError(new Error('write failed', { cause: new Error('layer', { cause: failure }) })));
  t.notOk(isGroupStoreError(new Error('unrelated')));
  t.notOk(isGroupStoreError(null));
});

t.test('tenant gate: a cap per tenant, and a back-off after a Virgil 429 that a success resets', async (t) => {
  let now = 1_000_000;
  const gate = new TenantGate({ perTenant: 2, backoff: { baseMs: 1_000, capMs: 4_000 }, busyRetryMs: 250, now: () => now, random: () => 0.5 });
  const a1 = gate.enter('a');
  const a2 = gate.enter('a');
  t.ok(a1.admitted && a2.admitted);
  const a3 = gate.enter('a');
  t.same(a3, { admitted: false, retryInMs: 250, reason: 'busy' }, 'the third run of a waits');
  t.ok(gate.enter('b').admitted, 'another tenant is not held up');
  if (!a1.admitted || !a2.admitted) return;
  a1.release('rate-limited');
  t.same(gate.enter('a'), { admitted: false, retryInMs: 1_000, reason: 'rate-limited' }, 'after a 429, a waits');
  now += 1_000;
  const again = gate.enter('a');
  t.ok(again.admitted, 'and goes on once the back-off is over');
  if (again.admitted) again.release('rate-limited');
  t.equal((gate.enter('a') as { retryInMs: number }).retryInMs, 2_000, 'a second 429 in a row doubles it');
  now += 2_000;
  for (let i = 0; i < 5; i++) {
    const run = gate.enter('a');
    if (run.admitted) run.release('rate-limited');
    now += 10_000;
  }
  a2.release('rate-limited');
  t.equal((gate.enter('a') as { retryInMs: number }).retryInMs, 4_000, 'capped');
  now += 4_000;
  const ok = gate.enter('a');
  if (ok.admitted) ok.release('done');
  const next = gate.enter('a');
  t.ok(next.admitted, 'a success resets the back-off');
  if (next.admitted) next.release('done');
  t.equal(gate.running('a'), 0);
});

t.test('queue priorities: a busy tenant counts up, a quiet one comes first, counts decay', async (t) => {
  let now = 0;
  const priority = new TenantPriority({ halfLifeMs: 10_000, now: () => now });
  t.same([1, 2, 3, 4].map(() => priority.next('busy')), [1, 2, 3, 4]);
  t.equal(priority.next('quiet'), 1, "another tenant's first job goes before the busy tenant's next");
  now += 20_000; // two half-lives: 4 → 1
  t.equal(priority.next('busy'), 2);
  const flood = new TenantPriority({ now: () => 0 });
  let last = 0;
  for (let i = 0; i < 3_000_000; i += 1) last = flood.next('flood');
  t.equal(last, MAX_PRIORITY, "bounded by BullMQ's lowest priority");
});

t.test('group-cache folders of earlier versions are removed at start, unless a LevelDB in them is open', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'stale-caches-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const leveldown = createRequire(import.meta.url)('leveldown') as (location: string) => { open(cb: Callback): void; close(cb: Callback): void };
  const openDb = async (folder: string) => {
    await mkdir(folder, { recursive: true });
    const db = leveldown(folder);
    await new Promise<void>((resolve, reject) => db.open((err) => (err ? reject(err) : resolve())));
    return db;
  };
  const inUse = await openDb(path.join(dir, 'e2ee-group-cache-live', 'tenant-a'));
  t.teardown(() => new Promise<void>((resolve) => inUse.close(() => resolve())));
  const closed = await openDb(path.join(dir, 'e2ee-group-cache-dead', 'tenant-b'));
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await mkdir(path.join(dir, 'e2ee-group-cache-fresh'));
  await mkdir(path.join(dir, 'unrelated'));
  const hourAgo = new Date(Date.now() - 3_600_000);
  for (const name of ['e2ee-group-cache-live', 'e2ee-group-cache-dead']) await utimes(path.join(dir, name), hourAgo, hourAgo);

  const removed = await removeStaleGroupCaches({ dir });
  t.equal(removed, 1);
  t.same((await readdir(dir)).sort(), ['e2ee-group-cache-fresh', 'e2ee-group-cache-live', 'unrelated'],
    'the one with an open LevelDB stays, one changed within the minute stays, the rest is not ours');
});

t.test('the worker runs with the same heap bounds from npm, docker compose and the scale benchmark', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const root = new URL('../../', import.meta.url);
  const pkg = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };
  const npmFlags = pkg.scripts['start:worker']!.split(/\s+/).filter((word) => word.startsWith('--'));
  t.ok(npmFlags.some((flag) => /^--max-old-space-size=\d+$/.test(flag)), 'the old generation is bounded');
  t.ok(npmFlags.some((flag) => /^--max-semi-space-size=\d+$/.test(flag)), 'the young generation is bounded');
  const compose = await readFile(new URL('docker-compose.yml', root), 'utf8');
  const command = /^\s+command: (\[.*"dist\/bin\/worker\.js"\])$/m.exec(compose);
  t.ok(command, 'docker compose starts the worker');
  t.same((JSON.parse(command![1]!) as string[]).filter((word) => word.startsWith('--')), npmFlags);
  const { workerNodeFlags } = await import('../../bench/lib/worker-process.js');
  t.same(workerNodeFlags(), npmFlags);
});
