/**
 * Onboarding against Virgil (the emulator): the tenant's service identity card is published with the
 * tenant's own credentials and is what its users find as the group owner; credentials Virgil refuses,
 * or Virgil being down, leave nothing behind.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { generateEd25519KeyPair } from '../../src/virgil/keys.js';
import { startTestApp } from '../helpers/app.js';
import { createE3Client } from '../helpers/virgil-clients.js';

t.test('the service identity card is published and found by the tenant users', async (t) => {
  const svc = await startTestApp(t);
  const tenant = await svc.onboardTenant();
  const row = await svc.ctx.db.selectFrom('tenants').selectAll().where('app_id', '=', tenant.appId).executeTakeFirstOrThrow();
  t.match(row.service_card_id, /^[0-9a-f]{64}$/, 'card id recorded');

  const getToken = async () => {
    const res = await svc.app.inject({ method: 'GET', url: '/v1/virgil-jwt', headers: { appid: tenant.appId, authorization: `Bearer ${tenant.userToken('alice')}` } });
    return res.json().data.virgilToken as string;
  };
  const alice = await createE3Client({ apiUrl: svc.emulator.url, getToken, t });
  await alice.register();
  const owner = await alice.findUsers(tenant.view.groupOwnerIdentity);
  t.equal(owner.identity, tenant.view.groupOwnerIdentity);
  t.equal(owner.id, row.service_card_id, 'the published card');
  t.equal(alice.virgilCrypto.exportPublicKey(owner.publicKey).toString('base64'), row.service_public_key, 'carries the service public key');
});

t.test('credentials Virgil refuses, or Virgil down, change nothing', async (t) => {
  const svc = await startTestApp(t);
  const real = await svc.emulator.createApp();
  const count = async () => Number((await svc.ctx.db.selectFrom('tenants').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const body = (virgil: { appId: string; appKeyId: string; appKey: string }) => ({
    appId: `app-${randomBytes(3).toString('hex')}`, virgil, userAuth: { algorithm: 'HS256', secret: randomBytes(32).toString('hex') },
  });

  const wrongKey = await svc.admin('POST', '/admin/v1/tenants', body({ ...real, appKey: generateEd25519KeyPair().privateKey }));
  t.equal(wrongKey.statusCode, 422);
  t.equal(wrongKey.json().error.code, 'VIRGIL_CREDENTIALS_REJECTED');
  const wrongKeyId = await svc.admin('POST', '/admin/v1/tenants', body({ ...real, appKeyId: 'ab'.repeat(16) }));
  t.equal(wrongKeyId.json().error.code, 'VIRGIL_CREDENTIALS_REJECTED');
  const unknownApp = await svc.admin('POST', '/admin/v1/tenants', body({ ...real, appId: 'cd'.repeat(16) }));
  t.equal(unknownApp.json().error.code, 'VIRGIL_CREDENTIALS_REJECTED');

  svc.emulator.setFaults([{ route: 'cards', status: 503, errorRate: 1 }]);
  const down = await svc.admin('POST', '/admin/v1/tenants', body(real));
  svc.emulator.clearFaults();
  t.equal(down.statusCode, 503);
  t.equal(down.json().error.code, 'VIRGIL_UNAVAILABLE');
  t.equal(await count(), 0, 'no tenant row was written');

  const ok = await svc.admin('POST', '/admin/v1/tenants', body(real));
  t.equal(ok.statusCode, 201, 'the same credentials work once Virgil is back');

  // An APP_KEY rotation is checked against Virgil before it replaces the working key.
  const appId = ok.json().data.appId;
  const bad = await svc.admin('PATCH', `/admin/v1/tenants/${appId}`, { virgil: { appKey: generateEd25519KeyPair().privateKey } });
  t.equal(bad.json().error.code, 'VIRGIL_CREDENTIALS_REJECTED');
  t.equal((await svc.admin('GET', `/admin/v1/tenants/${appId}`)).json().data.configVersion, 1, 'unchanged');
});
