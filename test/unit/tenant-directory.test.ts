/**
 * The tenant directory without a server: the LRU bound, the per-address lookup budget on a fake
 * clock, the set of known app ids (loads, notes, reconnects, refresh), and the directory itself on
 * a Kysely handle whose driver answers from memory and counts every query. The HTTP answers and
 * real notifications are in test/integration/security/unknown-tenants.test.ts.
 */
import { randomBytes } from 'node:crypto';
import {
  Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler,
  type CompiledQuery, type DatabaseConnection, type Driver, type QueryResult,
} from 'kysely';
import t from 'tap';
import { Keyring } from '../../src/crypto/envelope.js';
import type { Db } from '../../src/db/database.js';
import type { NotificationListener } from '../../src/db/notification-listener.js';
import type { Database, TenantRow } from '../../src/db/schema.js';
import { DomainError } from '../../src/lib/errors.js';
import { Lru } from '../../src/lib/lru.js';
import type { ApiError } from '../../src/http/errors.js';
import { resolveTenant, type TenantRequest } from '../../src/http/tenant-resolver.js';
import { KnownAppIds, LookupBudget, TenantDirectory } from '../../src/tenants/directory.js';
import { generateEd25519KeyPair } from '../../src/virgil/keys.js';

function fakeClock(start = Date.UTC(2026, 0, 1, 12, 0, 0)) {
  const clock = { ms: start, now: () => clock.ms, advance: (ms: number) => { clock.ms += ms; } };
  return clock;
}

/** A promise with its resolve and reject exposed, to hold a load open. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

t.test('the LRU drops the least recently used entry, not the oldest insertion', async (t) => {
  const lru = new Lru<string, number>(3);
  lru.set('a', 1);
  lru.set('b', 2);
  lru.set('c', 3);
  t.equal(lru.get('a'), 1, 'a is read: now the most recently used');
  lru.set('d', 4);
  t.same([...lru.keys()], ['c', 'a', 'd'], 'b, the least recently used, left; a stayed');
  t.equal(lru.peek('c'), 3, 'peek reads without marking as used');
  lru.set('e', 5);
  t.notOk(lru.has('c'), 'c left next: peek did not refresh it');
  lru.set('a', 10);
  t.same([...lru.keys()], ['d', 'e', 'a'], 'a rewrite counts as a use');
  t.equal(lru.size, 3);
  t.ok(lru.delete('d'));
  t.equal(lru.size, 2);
  lru.clear();
  t.equal(lru.size, 0);
  t.throws(() => new Lru(0), RangeError, 'a bound of 0 is refused');
});

t.test('a flood of new keys cannot push out a key that keeps being read', async (t) => {
  const lru = new Lru<string, number>(100);
  lru.set('busy', 1);
  let lost = 0;
  for (let i = 0; i < 10_000; i++) {
    lru.set(`flood-${i}`, i);
    if (i % 50 === 0 && lru.get('busy') !== 1) lost++;
  }
  t.equal(lost, 0, 'read every 50 insertions, it was never missing');
  t.equal(lru.get('busy'), 1, 'still there after 10,000 insertions into 100 places');
  t.equal(lru.size, 100, 'bounded');
});

t.test('the lookup budget allows `perWindow` lookups per address and window, then says how long to wait', async (t) => {
  const clock = fakeClock(Date.UTC(2026, 0, 1, 12, 0, 3));
  const budget = new LookupBudget({ perWindow: 3, windowMs: 10_000, maxClients: 2, now: clock.now });
  for (let i = 0; i < 3; i++) t.equal(budget.take('10.0.0.1'), 0, `lookup ${i + 1} allowed`);
  t.equal(budget.take('10.0.0.1'), 7, 'the 4th waits for the window to end, 7 s later');
  t.equal(budget.take('10.0.0.2'), 0, 'another address has its own budget');
  clock.advance(6_500);
  t.equal(budget.take('10.0.0.1'), 1, 'rounded up to whole seconds, at least 1');
  clock.advance(500);
  t.equal(budget.take('10.0.0.1'), 0, 'a new window, a new budget');
  t.equal(budget.take('10.0.0.2'), 0);
  // Beyond maxClients addresses share one allowance: memory stays bounded whatever the addresses.
  for (let i = 0; i < 3; i++) t.equal(budget.take(`192.0.2.${i}`), 0);
  t.equal(budget.take('192.0.2.99'), 10, 'the shared allowance is spent (a whole window left)');
  t.equal(budget.take('10.0.0.1'), 0, 'addresses counted on their own keep their budget');
});

t.test('known app ids: unsure until loaded, then answers from memory and notes writes', async (t) => {
  const clock = fakeClock();
  let loads = 0;
  let next = deferred<string[]>();
  const known = new KnownAppIds({ load: () => { loads++; return next.promise; }, refreshMs: 300_000, now: clock.now });
  t.equal(known.has('acme'), undefined, 'not asked to load: cannot tell');
  t.equal(loads, 0, 'and does not load by itself');

  const loading = known.load();
  await flush();
  t.equal(loads, 1);
  t.equal(known.has('acme'), undefined, 'while loading: cannot tell');
  known.noted('written-during-load');
  next.resolve(['acme', 'globex']);
  await loading;
  t.ok(known.complete);
  t.equal(known.has('acme'), true);
  t.equal(known.has('nobody'), false, 'an id outside the set is unknown');
  t.equal(known.has('written-during-load'), true, 'a write noted during the load is kept although the snapshot missed it');
  known.noted('initech');
  t.equal(known.has('initech'), true, 'a write after the load is known at once');
  for (let i = 0; i < 1_000; i++) known.has(`ghost-${i}`);
  t.equal(loads, 1, 'unknown ids cost no load');
});

t.test('known app ids: a lost notification stream makes the set unsure until a reload finishes', async (t) => {
  const clock = fakeClock();
  const results: Array<ReturnType<typeof deferred<string[]>>> = [];
  const known = new KnownAppIds({
    load: () => { const d = deferred<string[]>(); results.push(d); return d.promise; },
    refreshMs: 300_000, now: clock.now,
  });
  const first = known.load();
  await flush();
  results[0].resolve(['acme']);
  await first;
  t.equal(known.has('later'), false);

  known.lost();
  await flush();
  t.equal(results.length, 2, 'a reconnect reloads at once');
  t.equal(known.has('later'), undefined, 'meanwhile an id outside the old set is looked up, not refused');
  t.equal(known.has('acme'), true, 'ids already known stay known (tenants are never deleted)');

  // Lost again while that reload runs: its snapshot may predate what was missed, so load once more.
  known.lost();
  results[1].resolve(['acme', 'later']);
  await flush();
  await flush();
  t.equal(results.length, 3, 'another load follows the one that was running');
  t.equal(known.has('later'), true, 'what the finished load found is usable');
  t.equal(known.has('latest'), undefined, 'but the set is not complete until the last load');
  results[2].resolve(['acme', 'later', 'latest']);
  await flush();
  await flush();
  t.ok(known.complete);
  t.equal(known.has('latest'), true);
  t.equal(known.has('nobody'), false);
});

t.test('known app ids: a failed load is retried on use, and the set is refreshed after refreshMs', async (t) => {
  const clock = fakeClock();
  let loads = 0;
  let fail = true;
  const errors: string[] = [];
  const known = new KnownAppIds({
    load: async () => { loads++; if (fail) throw new Error('database down'); return ['acme']; },
    refreshMs: 60_000, retryMs: 1_000, now: clock.now, onError: (err) => errors.push(err.message),
  });
  await t.rejects(known.load(), /database down/);
  t.equal(known.has('acme'), undefined, 'not loaded: cannot tell');
  await flush();
  t.equal(loads, 1, 'no retry before retryMs');
  clock.advance(1_000);
  t.equal(known.has('acme'), undefined);
  await flush();
  t.equal(loads, 2, 'retried on use after retryMs');
  t.same(errors, ['database down'], 'the background failure is reported');
  fail = false;
  clock.advance(1_000);
  known.has('acme');
  await flush();
  await flush();
  t.equal(loads, 3);
  t.ok(known.complete);
  t.equal(known.has('nobody'), false);
  await flush();
  t.equal(loads, 3, 'a complete, fresh set loads nothing');
  clock.advance(60_000);
  t.equal(known.has('nobody'), false, 'a due refresh still answers from the current set');
  await flush();
  await flush();
  t.equal(loads, 4, 'and reloads in the background');
});

// ---- The directory on an in-memory driver ----------------------------------------------------

const masterKey = { id: 'k1', key: randomBytes(32) };
const keyring = new Keyring([masterKey]);

function tenantRow(appId: string): TenantRow {
  const seal = (field: string, value: string) => keyring.seal(value, { tenant: appId, field });
  const now = new Date();
  return {
    app_id: appId, status: 'active', virgil_app_id: randomBytes(16).toString('hex'), virgil_app_key_id: randomBytes(16).toString('hex'),
    virgil_app_key: seal('virgil_app_key', generateEd25519KeyPair().privateKey),
    identity_secret: seal('identity_secret', randomBytes(32).toString('base64')),
    service_identity: randomBytes(16).toString('hex'),
    service_private_key: seal('service_private_key', generateEd25519KeyPair().privateKey),
    service_public_key: generateEd25519KeyPair().publicKey, service_card_id: null,
    user_auth: { algorithm: 'HS256', uidClaim: 'sub', clockToleranceSeconds: 0 },
    user_auth_key: seal('user_auth_key', randomBytes(32).toString('base64url')),
    webhook_basic_username: null, webhook_basic_password: null, webhook_signing_secret: null,
    jwt_ttl_seconds: 1200, rate_limits: null, cometchat: null, cometchat_rest_api_key: null, config_version: 1, created_at: now, updated_at: now, disabled_at: null,
    twilio: null, twilio_auth_token: null, twilio_secondary_auth_token: null, twilio_api_key_secret: null,
  };
}

/** A Kysely handle over an in-memory `tenants` table that records every statement it runs. */
function memoryDb() {
  const rows = new Map<string, TenantRow>();
  const statements: string[] = [];
  let failing = false;
  const answer = (query: CompiledQuery): QueryResult<unknown> => {
    statements.push(query.sql);
    if (failing) throw new Error('connection refused');
    if (/^select "app_id" from "tenants" order by/.test(query.sql)) return { rows: [...rows.keys()].sort().map((app_id) => ({ app_id })) };
    if (/^select \* from "tenants" where "app_id" = \$1/.test(query.sql)) {
      const row = rows.get(query.parameters[0] as string);
      return { rows: row ? [row] : [] };
    }
    throw new Error(`unexpected statement: ${query.sql}`);
  };
  const connection: DatabaseConnection = {
    executeQuery: async <R>(query: CompiledQuery) => answer(query) as QueryResult<R>,
    streamQuery: () => { throw new Error('not supported'); },
  };
  const driver: Driver = {
    init: async () => {}, acquireConnection: async () => connection, beginTransaction: async () => {},
    commitTransaction: async () => {}, rollbackTransaction: async () => {}, releaseConnection: async () => {}, destroy: async () => {},
  };
  const db: Db = new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(), createDriver: () => driver,
      createIntrospector: (k) => new PostgresIntrospector(k), createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
  return {
    db, rows, statements,
    add: (appId: string) => rows.set(appId, tenantRow(appId)),
    lookups: () => statements.filter((s) => s.startsWith('select * from "tenants"')).length,
    loads: () => statements.filter((s) => s.startsWith('select "app_id"')).length,
    setFailing: (value: boolean) => { failing = value; },
  };
}

/** Stands in for the LISTEN connection: delivers notifications and reconnects on demand. */
function fakeNotifications() {
  const subs: Array<{ channel: string; onMessage: (payload: string) => void; onReconnect?: () => void }> = [];
  const listener = {
    subscribe: (channel: string, onMessage: (payload: string) => void, onReconnect?: () => void) => { subs.push({ channel, onMessage, onReconnect }); },
  } as unknown as NotificationListener;
  return {
    listener,
    notify: (channel: string, payload: string) => { for (const s of subs) if (s.channel === channel) s.onMessage(payload); },
    reconnect: () => { for (const s of subs) s.onReconnect?.(); },
  };
}

t.test('directory: once the ids are loaded, unknown ids are answered from memory', async (t) => {
  const mem = memoryDb();
  mem.add('acme');
  const notes = fakeNotifications();
  const directory = new TenantDirectory(mem.db, keyring, { ttlSeconds: 300, notifications: notes.listener });
  await directory.loadKnownIds();
  t.ok(directory.knowsAllIds);
  const before = mem.statements.length;
  let answered = 0;
  for (let i = 0; i < 20_000; i++) if (directory.peek(`ghost-${i}`) === null) answered++;
  for (let i = 0; i < 100; i++) if (await directory.get(`ghost-b-${i}`, '10.0.0.1') === null) answered++;
  t.equal(answered, 20_100, 'every unknown id is answered "none"');
  t.equal(mem.statements.length, before, '20,100 unknown ids: no statement at all');

  t.equal((await directory.get('acme', '10.0.0.1'))?.appId, 'acme', 'a known tenant is looked up once');
  t.equal(directory.peek('acme')?.appId, 'acme', 'then answered from the cache');
  t.equal(mem.lookups(), 1);

  // A tenant created elsewhere: its notification makes it known, the next miss loads it.
  mem.add('newco');
  t.equal(directory.peek('newco'), null, 'before the notification this process does not know it');
  notes.notify('tenant_changed', 'newco');
  t.equal(directory.peek('newco'), undefined, 'after it: must be looked up');
  t.equal((await directory.get('newco', '10.0.0.1'))?.appId, 'newco');
  // A tenant written by this process is known at once, before its notification arrives.
  mem.add('local');
  directory.invalidate('local');
  t.equal((await directory.get('local', '10.0.0.1'))?.appId, 'local');
});

t.test('directory: before the ids are loaded, misses are looked up within a per-address budget', async (t) => {
  const clock = fakeClock();
  const mem = memoryDb();
  mem.add('acme');
  mem.setFailing(true);
  const directory = new TenantDirectory(mem.db, keyring, {
    ttlSeconds: 300, now: clock.now, lookupBudget: { perWindow: 5, windowMs: 10_000 },
  });
  await t.rejects(directory.loadKnownIds(), /connection refused/, 'the set could not load');
  mem.setFailing(false);
  t.notOk(directory.knowsAllIds);
  t.equal(directory.peek('ghost-0'), undefined, 'unknown ids cannot be answered from memory yet');
  const statementsBefore = mem.statements.length;
  for (let i = 0; i < 5; i++) t.equal(await directory.get(`ghost-${i}`, '10.0.0.1'), null);
  const refused = await directory.get('ghost-5', '10.0.0.1').catch((err: unknown) => err);
  t.ok(refused instanceof DomainError && refused.kind === 'rate_limited' && refused.code === 'TENANT_LOOKUP_RATE_LIMITED', 'the 6th lookup from one address is refused');
  t.same((refused as DomainError).details, { retryAfterSeconds: 10 });
  t.equal(await directory.get('ghost-0', '10.0.0.1'), null, 'a remembered unknown id costs no budget');
  t.equal((await directory.get('acme', '10.0.0.2'))?.appId, 'acme', 'another address still gets its lookups');
  t.equal((await directory.get('ghost-6'))?.appId, undefined, 'internal callers (no address) are not budgeted');
  t.ok(mem.statements.length - statementsBefore <= 7, 'at most the budgets plus the internal lookup reached the database');

  // The set loads on a later miss (retry after a second) and from then on answers unknown ids.
  clock.advance(1_000);
  directory.peek('ghost-7');
  await flush();
  await flush();
  t.ok(directory.knowsAllIds, 'loaded on a later miss');
  t.equal(directory.peek('ghost-7'), null);
});

t.test('directory: unknown ids never take the place of a cached tenant, even before the ids are loaded', async (t) => {
  const mem = memoryDb();
  mem.add('active');
  const directory = new TenantDirectory(mem.db, keyring, { ttlSeconds: 300, maxCachedTenants: 10 });
  const active = await directory.get('active');
  for (let i = 0; i < 1_000; i++) await directory.get(`ghost-${i}`);
  t.equal(directory.peek('active'), active, 'the same cached tenant after 1,000 unknown ids in a cache of 10');
  t.equal(mem.lookups(), 1_001, 'without the id set, each unknown id was one lookup (internal callers have no budget)');
});

t.test('directory: a flood of other tenants cannot evict an active one (LRU, not first-in-first-out)', async (t) => {
  const mem = memoryDb();
  const ids = Array.from({ length: 25 }, (_, i) => `tenant-${i}`);
  mem.add('active');
  for (const id of ids) mem.add(id);
  const directory = new TenantDirectory(mem.db, keyring, { ttlSeconds: 300, maxCachedTenants: 10 });
  await directory.loadKnownIds();
  await directory.get('active');
  const lookupsBefore = mem.lookups();
  let missing = 0;
  for (const id of ids) {
    await directory.get(id);
    if (directory.peek('active')?.appId !== 'active') missing++;
  }
  t.equal(missing, 0, 'the active tenant was cached after every other tenant came in');
  t.equal(mem.lookups() - lookupsBefore, ids.length, 'each other tenant was looked up once');
  t.equal(directory.peek('active')?.appId, 'active', 'the active tenant, read between them, stayed cached');
  t.equal(directory.peek('tenant-0'), undefined, 'cold tenants left instead (the cache holds 10)');
});

t.test('directory: a listener reconnect drops the cache and reloads the ids', async (t) => {
  const mem = memoryDb();
  mem.add('acme');
  const notes = fakeNotifications();
  const directory = new TenantDirectory(mem.db, keyring, { ttlSeconds: 300, notifications: notes.listener });
  await directory.loadKnownIds();
  await directory.get('acme');
  t.equal(mem.loads(), 1);
  // Written while the listener was down: its notification never came.
  mem.add('missed');
  t.equal(directory.peek('missed'), null);
  notes.reconnect();
  t.notOk(directory.knowsAllIds, 'unsure until reloaded');
  t.equal(directory.peek('acme'), undefined, 'the cache was dropped');
  await flush();
  await flush();
  t.equal(mem.loads(), 2, 'the ids were reloaded');
  t.ok(directory.knowsAllIds);
  t.equal((await directory.get('missed', '10.0.0.1'))?.appId, 'missed', 'the missed tenant is found');
});

t.test('resolver: over the lookup budget an address gets 429 with Retry-After; unknown ids stay 404', async (t) => {
  const clock = fakeClock(Date.UTC(2026, 0, 1, 12, 0, 4));
  const mem = memoryDb();
  mem.add('acme');
  mem.setFailing(true);
  const directory = new TenantDirectory(mem.db, keyring, { ttlSeconds: 300, now: clock.now, lookupBudget: { perWindow: 2, windowMs: 10_000 } });
  await directory.loadKnownIds().catch(() => {});
  mem.setFailing(false);
  const logged: unknown[] = [];
  const request = { ip: '198.51.100.7', log: { error: (...args: unknown[]) => logged.push(args) } } as unknown as TenantRequest;
  const resolve = (appId: string, from: 'header' | 'path' = 'header') =>
    new Promise<{ err: ApiError | null; appId?: string }>((done) => resolveTenant(directory, appId, from, request, (err, tenant) => done({ err, appId: tenant?.appId })));

  t.equal((await resolve('ghost-1')).err?.code, 'TENANT_NOT_FOUND');
  t.equal((await resolve('ghost-2', 'path')).err?.code, 'TENANT_NOT_FOUND');
  const refused = (await resolve('acme')).err!;
  t.equal(refused.statusCode, 429);
  t.equal(refused.code, 'TENANT_LOOKUP_RATE_LIMITED');
  t.same(refused.headers, { 'retry-after': '6' }, 'Retry-After: the seconds left in the window');
  t.same(refused.details, { retryAfterSeconds: 6 });
  t.equal((await resolve('ghost-1')).err?.code, 'TENANT_NOT_FOUND', 'an id already found unknown is still answered');
  t.same(logged, [], 'a refusal is not logged as a failure');
  clock.advance(6_000);
  t.equal((await resolve('acme')).appId, 'acme', 'the next window has a new budget');
});

t.test('resolver: the addresses of one IPv6 /64 share one lookup budget', async (t) => {
  const mem = memoryDb();
  mem.setFailing(true);
  const directory = new TenantDirectory(mem.db, keyring, { ttlSeconds: 300, lookupBudget: { perWindow: 2, windowMs: 60_000 } });
  await directory.loadKnownIds().catch(() => {});
  mem.setFailing(false);
  const from = (ip: string) => ({ ip, log: { error: () => {} } }) as unknown as TenantRequest;
  const resolve = (appId: string, ip: string) =>
    new Promise<ApiError | null>((done) => resolveTenant(directory, appId, 'header', from(ip), (err) => done(err)));
  t.equal((await resolve('ghost-1', '2001:db8:1:2::1'))?.code, 'TENANT_NOT_FOUND');
  t.equal((await resolve('ghost-2', '2001:db8:1:2:ffff::9'))?.code, 'TENANT_NOT_FOUND');
  t.equal((await resolve('ghost-3', '2001:db8:1:2:abcd::7'))?.code, 'TENANT_LOOKUP_RATE_LIMITED', 'a third address of the same /64 has no budget left');
  t.equal((await resolve('ghost-3', '2001:db8:1:3::1'))?.code, 'TENANT_NOT_FOUND', 'the next /64 has its own');
});
