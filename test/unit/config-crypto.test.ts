/**
 * Configuration, secrets at rest, identities and signing: the pure pieces everything else stands on
 * (no database, no server).
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import t from 'tap';
import { ConfigError, loadDevConfig as loadConfig, parseMasterKeys } from '../../src/config/config.js';
import { createEd25519Signer, ed25519Engine } from '../../src/crypto/ed25519.js';
import { Keyring, SecretDecryptionError } from '../../src/crypto/envelope.js';
import { groupIdentity, serviceIdentity, userIdentity } from '../../src/crypto/identity.js';
import { VirgilJwtSigner } from '../../src/virgil/jwt.js';
import { exportPrivateKeyBase64 } from '../../src/virgil/keys.js';
import { virgilTokenChecker } from '../helpers/extension-client.js';

const key = () => randomBytes(32).toString('base64');
const baseEnv = { ADMIN_TOKENS: 'a'.repeat(24), MASTER_KEYS: `k1:${key()}` };

t.test('configuration names the bad setting', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ ...baseEnv, PORT: 'eighty' }, 'PORT'],
    [{ ...baseEnv, PORT: '70000' }, 'PORT'],
    [{ ...baseEnv, MASTER_KEYS: 'k1:short' }, 'MASTER_KEYS'],
    [{ ...baseEnv, MASTER_KEYS: `k1:${key()},k1:${key()}` }, 'MASTER_KEYS'],
    [{ ...baseEnv, ADMIN_TOKENS: 'short' }, 'ADMIN_TOKENS'],
    [{ MASTER_KEYS: baseEnv.MASTER_KEYS }, 'ADMIN_TOKENS'],
    [{ ...baseEnv, DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ ...baseEnv, NODE_ENV: 'production' }, 'DATABASE_URL'],
    [{ ...baseEnv, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ ...baseEnv, REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ ...baseEnv, WEBHOOK_EVENT_RETENTION_DAYS: '0' }, 'WEBHOOK_EVENT_RETENTION_DAYS'],
  ];
  for (const [env, setting] of cases) {
    let caught: unknown;
    try { loadConfig(env); } catch (err) { caught = err; }
    t.ok(caught instanceof ConfigError && caught.setting === setting && caught.message.startsWith(`${setting}: `), `${setting}: ${(caught as Error)?.message}`);
  }
  const prod = loadConfig({ ...baseEnv, NODE_ENV: 'production', DATABASE_URL: 'postgres://u@h/db' });
  t.equal(prod.virgilApiUrl, 'https://api.virgilsecurity.com', 'production defaults to Virgil Cloud');
  t.equal(loadConfig(baseEnv).virgilApiUrl, null, 'development defaults to the emulator');
  t.equal(loadConfig({ ...baseEnv, VIRGIL_API_URL: 'http://127.0.0.1:9/' }).virgilApiUrl, 'http://127.0.0.1:9', 'trailing slash removed');
  t.ok(Object.isFrozen(prod));
});

t.test('envelope encryption binds tenant and field, and rotates', async (t) => {
  const [k1, k2] = [parseMasterKeys(`k1:${key()}`)[0], parseMasterKeys(`k2:${key()}`)[0]];
  const ring = new Keyring([k1]);
  const ctx = { tenant: 'acme', field: 'virgil_app_key' };
  const sealed = ring.seal('top secret', ctx);
  t.match(sealed, /^ev1\.k1\.[\w-]{16}\.[\w-]+$/);
  t.not(ring.seal('top secret', ctx), sealed, 'random nonce per value');
  t.equal(ring.open(sealed, ctx), 'top secret');
  t.throws(() => ring.open(sealed, { tenant: 'other', field: ctx.field }), SecretDecryptionError, 'moved to another tenant');
  t.throws(() => ring.open(sealed, { tenant: 'acme', field: 'identity_secret' }), SecretDecryptionError, 'moved to another field');
  const parts = sealed.split('.');
  const body = Buffer.from(parts[3], 'base64url');
  body[0] ^= 1;
  t.throws(() => ring.open([...parts.slice(0, 3), body.toString('base64url')].join('.'), ctx), SecretDecryptionError, 'tampered');
  t.throws(() => new Keyring([k2]).open(sealed, ctx), /k1.*not configured/, 'unknown key id');

  const rotated = new Keyring([k2, k1]);
  t.equal(rotated.open(sealed, ctx), 'top secret', 'old values open after a new key is added');
  const rewrapped = rotated.rewrap(sealed, ctx)!;
  t.equal(Keyring.keyIdOf(rewrapped), 'k2');
  t.equal(rotated.rewrap(rewrapped, ctx), null, 'already current');
  t.equal(new Keyring([k2]).open(rewrapped, ctx), 'top secret', 'old key can be dropped after re-wrap');
});

t.test('identities are deterministic, separated and file-name safe', async (t) => {
  const secret = randomBytes(32);
  const u = userIdentity(secret, 'alice@example.com');
  t.match(u, /^[0-9a-f]{32}$/);
  t.equal(userIdentity(Buffer.from(secret), 'alice@example.com'), u, 'stable');
  t.not(groupIdentity(secret, 'alice@example.com'), u, 'users and groups are separate namespaces');
  t.not(userIdentity(randomBytes(32), 'alice@example.com'), u, 'tenants are separate');
  t.not(serviceIdentity(secret), u);
  t.notMatch(u, /alice/);
});

t.test('Ed25519: libsodium signs byte for byte as node:crypto, and Virgil accepts its tokens', async (t) => {
  t.equal(ed25519Engine.name, 'libsodium', 'the prebuilt sodium-native addon loads on this platform');
  t.equal(ed25519Engine.unavailableReason, null);
  for (const length of [0, 64, 1000]) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const message = randomBytes(length);
    const fast = createEd25519Signer(privateKey, 'libsodium');
    const reference = createEd25519Signer(privateKey, 'node:crypto');
    t.equal(fast.engine, 'libsodium');
    const signature = fast.sign(message);
    t.same(signature, reference.sign(message), `identical signatures (${length}-byte message)`);
    t.ok(verify(null, message, publicKey, signature), 'node:crypto verifies it');
    t.notOk(verify(null, Buffer.concat([message, Buffer.from([0])]), publicKey, signature), 'and not for another message');
  }
  t.throws(() => createEd25519Signer(createPublicKey(generateKeyPairSync('ed25519').privateKey)), TypeError, 'a public key is refused');
  t.throws(() => createEd25519Signer(generateKeyPairSync('x25519').privateKey), TypeError, 'an X25519 key is refused');

  const appKey = generateKeyPairSync('ed25519').privateKey;
  const options = { appId: randomBytes(16).toString('hex'), appKeyId: randomBytes(16).toString('hex'), appKey, ttlSeconds: 600 };
  const now = Date.now();
  const token = new VirgilJwtSigner(options).sign('abc123', now).token;
  t.equal(token, new VirgilJwtSigner({ ...options, engine: 'node:crypto' }).sign('abc123', now).token, 'the same Virgil JWT from either engine');
  const check = await virgilTokenChecker(exportPrivateKeyBase64(appKey), options.appKeyId);
  t.ok(check(token).valid, "virgil-sdk's JwtVerifier accepts it");
});

t.test('Ed25519: where the addon cannot load, node:crypto signs the same tokens', async (t) => {
  // As on a platform without a prebuilt binary: resolving sodium-native fails in the child process.
  const blockAddon = `import M from 'node:module';
    const resolve = M._resolveFilename;
    M._resolveFilename = function (request, ...rest) {
      if (request === 'sodium-native') throw new Error('no prebuilt addon');
      return resolve.call(this, request, ...rest);
    };`;
  const probe = `import { createPrivateKey } from 'node:crypto';
    import { ed25519Engine } from './src/crypto/ed25519.js';
    import { VirgilJwtSigner } from './src/virgil/jwt.js';
    const { appKey, now, ...options } = JSON.parse(process.env.PROBE);
    const key = createPrivateKey({ key: Buffer.from(appKey, 'base64'), format: 'der', type: 'pkcs8' });
    console.log(JSON.stringify({ ...ed25519Engine, token: new VirgilJwtSigner({ ...options, appKey: key }).sign('abc123', now).token }));`;
  const appKey = generateKeyPairSync('ed25519').privateKey;
  const options = { appId: randomBytes(16).toString('hex'), appKeyId: randomBytes(16).toString('hex'), ttlSeconds: 600 };
  const now = Date.now();
  const out = JSON.parse(execFileSync(process.execPath, [
    '--import', `data:text/javascript,${encodeURIComponent(blockAddon)}`, '--import', 'tsx', '--input-type=module', '-e', probe,
  ], { encoding: 'utf8', env: { ...process.env, PROBE: JSON.stringify({ ...options, now, appKey: exportPrivateKeyBase64(appKey) }) } }));
  t.equal(out.name, 'node:crypto', 'falls back to node:crypto');
  t.match(out.unavailableReason, /no prebuilt addon/, 'and says why');
  t.equal(out.token, new VirgilJwtSigner({ ...options, appKey, engine: 'libsodium' }).sign('abc123', now).token, 'the token libsodium signs');
});

