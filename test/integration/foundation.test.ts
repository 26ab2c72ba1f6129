/**
 * Migrations and secret re-wrapping on a real PostgreSQL database (the pure configuration, envelope,
 * identity and signing checks are in test/unit/config-crypto.test.ts).
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { parseMasterKeys } from '../../src/config/config.js';
import { Keyring } from '../../src/crypto/envelope.js';
import { migrate } from '../../src/db/migrator.js';
import { rewrapSecrets } from '../../src/tenants/rewrap.js';
import { createTestDatabase } from '../helpers/db.js';

const key = () => randomBytes(32).toString('base64');

t.test('migrations apply once, concurrently, and refuse edited history', async (t) => {
  const { handle } = await createTestDatabase(t);
  const results = await Promise.all([migrate(handle.pool), migrate(handle.pool), migrate(handle.pool)]);
  t.same(results.map((r) => r.applied.length), [0, 0, 0], 'already applied by the test helper');
  await handle.pool.query("UPDATE schema_migrations SET checksum = 'x' WHERE name = '0001_tenants.sql'");
  await t.rejects(migrate(handle.pool), /was changed after it was applied/);
});

t.test('re-wrap re-seals every tenant secret with the active key', async (t) => {
  const { handle } = await createTestDatabase(t);
  const [k1, k2] = [parseMasterKeys(`k1:${key()}`)[0], parseMasterKeys(`k2:${key()}`)[0]];
  const old = new Keyring([k1]);
  const seal = (field: string, v: string) => old.seal(v, { tenant: 'acme', field });
  await handle.db.insertInto('tenants').values({
    app_id: 'acme', virgil_app_id: 'aa', virgil_app_key_id: 'bb', virgil_app_key: seal('virgil_app_key', 'APPKEY'),
    identity_secret: seal('identity_secret', 'SECRET'), service_identity: 'svc', service_private_key: seal('service_private_key', 'PRIV'),
    service_public_key: 'PUB', user_auth: JSON.stringify({ algorithm: 'HS256', uidClaim: 'sub', clockToleranceSeconds: 0 }),
    user_auth_key: seal('user_auth_key', 'HSKEY'), webhook_basic_username: 'u', webhook_basic_password: seal('webhook_basic_password', 'PW'),
  }).execute();
  const ring = new Keyring([k2, k1]);
  t.same(await rewrapSecrets(handle.db, ring), { tenants: 1, values: 5 });
  t.same(await rewrapSecrets(handle.db, ring), { tenants: 1, values: 0 }, 'idempotent');
  const row = await handle.db.selectFrom('tenants').selectAll().executeTakeFirstOrThrow();
  const onlyNew = new Keyring([k2]);
  t.equal(onlyNew.open(row.virgil_app_key, { tenant: 'acme', field: 'virgil_app_key' }), 'APPKEY');
  t.equal(onlyNew.open(row.webhook_basic_password!, { tenant: 'acme', field: 'webhook_basic_password' }), 'PW');
  t.equal(row.webhook_signing_secret, null);
});

t.test('groups.unsynced_since is set when a group falls behind, kept while it stays behind, cleared when it catches up', async (t) => {
  const { handle } = await createTestDatabase(t);
  const q = (text: string) => handle.pool.query(text);
  await q(`INSERT INTO tenants (app_id, virgil_app_id, virgil_app_key_id, virgil_app_key, identity_secret, service_identity,
             service_private_key, service_public_key, user_auth, user_auth_key)
           VALUES ('acme', 'aa', 'bb', 'k', 's', 'svc', 'p', 'P', '{}', 'u')`);
  const since = async (guid: string) => (await q(`SELECT unsynced_since FROM groups WHERE tenant_id = 'acme' AND guid = '${guid}'`)).rows[0].unsynced_since as Date | null;
  // Inserted behind (desired 1, synced 0), and inserted caught up.
  await q(`INSERT INTO groups (tenant_id, guid, identity, lifecycle_at) VALUES ('acme', 'g1', 'i1', now())`);
  await q(`INSERT INTO groups (tenant_id, guid, identity, lifecycle_at, synced_version) VALUES ('acme', 'g2', 'i2', now(), 1)`);
  const first = await since('g1');
  t.ok(first, 'a new group waits for its first run');
  t.equal(await since('g2'), null, 'a group inserted caught up does not wait');
  await q(`UPDATE groups SET desired_version = desired_version + 1 WHERE guid = 'g1'`);
  t.same(await since('g1'), first, 'another change to a group behind keeps when it fell behind');
  await q(`UPDATE groups SET synced_version = desired_version WHERE guid = 'g1'`);
  t.equal(await since('g1'), null, 'cleared when the worker catches up');
  await q(`UPDATE groups SET desired_version = desired_version + 1 WHERE guid IN ('g1', 'g2')`);
  t.ok(await since('g1'), 'set again when it falls behind again');
  t.ok(await since('g2'));
  const { rows } = await q(`SELECT count(*)::int AS n FROM groups WHERE tenant_id = 'acme' AND unsynced_since IS NOT NULL`);
  t.equal(rows[0].n, 2);
});
