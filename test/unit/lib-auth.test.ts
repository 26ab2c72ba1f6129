/**
 * Small pure rules: ids, constant-time helpers, caller token verification (with an in-memory
 * tenant), failure classification and job ids/backoff of the reconcile queue.
 */
import { createHash, createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import t from 'tap';
import { buildCallerTokenVerifier, callerTokenVerifierFor, MAX_CALLER_TOKEN_LENGTH, type JwtUserAuth } from '../../src/auth/caller-token.js';
import { DomainError, unavailable, misconfigured } from '../../src/lib/errors.js';
import { macsEqual, matchSecret, secretsEqual } from '../../src/lib/constant-time.js';
import { sha256, sha256Hex } from '../../src/lib/sha256.js';
import { isValidAppId, isValidId } from '../../src/lib/ids.js';
import { classifyFailure } from '../../src/reconcile/failures.js';
import {
  cappedExponentialBackoff, groupJobKey, isReconcileGroupJob, reconcileDeduplicationId, reconcileJobOptions, wakeJobId, wakeJobOptions,
} from '../../src/reconcile/jobs.js';
import { CALLER_TOKEN_LIFETIME, type TenantRuntime } from '../../src/tenants/types.js';
import { normaliseUserAuth } from '../../src/tenants/validation.js';
import { nowSeconds, signJwt } from '../helpers/extension-client.js';
import { unsignedToken } from '../helpers/tokens.js';

t.test('the id rules', async (t) => {
  for (const id of ['alice', 'josé', 'carol@example.com', '用户', 'x'.repeat(255)]) t.ok(isValidId(id), `${id.slice(0, 20)} is an id`);
  for (const id of ['', 'a b', 'zo\u200de', 'a\u0007b', 'x'.repeat(256), 42, null, ['a']]) t.notOk(isValidId(id), `${JSON.stringify(id)?.slice(0, 20)} is not`);
  for (const id of ['demo', 'A1', 'a.b_c-d', 'x'.repeat(64)]) t.ok(isValidAppId(id), `app id ${id.slice(0, 20)}`);
  for (const id of ['', '../etc', '-a', 'x'.repeat(65), 'a b', 'é']) t.notOk(isValidAppId(id), `not an app id: ${id.slice(0, 20)}`);
});

t.test('constant-time helpers', async (t) => {
  t.same(sha256('abc'), createHash('sha256').update('abc').digest());
  t.ok(secretsEqual('s3cret', 's3cret'));
  t.notOk(secretsEqual('s3cret', 's3cret!'), 'different lengths');
  t.notOk(secretsEqual('s3cret', 's3creT'));
  const hash = (s: string) => createHash('sha256').update(s).digest();
  const tokens = ['first-token-0123456789', 'second-token-0123456789'].map(hash);
  t.equal(matchSecret('first-token-0123456789', tokens), 0);
  t.equal(matchSecret('second-token-0123456789', tokens), 1);
  t.equal(matchSecret('third-token-0123456789', tokens), -1);
  t.ok(macsEqual(Buffer.from('abcd'), Buffer.from('abcd')));
  t.notOk(macsEqual(Buffer.from('abc'), Buffer.from('abcd')));
});

t.test('caller token verification with an in-memory tenant', async (t) => {
  const secret = randomBytes(32).toString('base64url');
  const userAuth = { settings: { algorithm: 'HS256', uidClaim: 'sub', clockToleranceSeconds: 0 }, key: secret } as unknown as JwtUserAuth;
  const verify = buildCallerTokenVerifier(userAuth);
  const claims = (extra: Record<string, unknown> = {}) => ({ sub: 'alice', iat: nowSeconds(), exp: nowSeconds() + 600, ...extra });
  t.equal(verify(signJwt('HS256', secret, claims())), 'alice');
  t.match(verify(signJwt('HS256', secret, claims({ exp: nowSeconds() - 10 }))), { code: 'TOKEN_EXPIRED' });
  t.match(verify(signJwt('HS256', secret, { sub: 'alice' })), { code: 'TOKEN_INVALID' }, 'exp is required');
  t.match(verify(signJwt('HS512', secret, claims())), { code: 'TOKEN_INVALID' }, 'the algorithm is pinned');
  t.match(verify(unsignedToken(claims())), { code: 'TOKEN_INVALID' }, 'alg none');
  t.match(verify(signJwt('HS256', secret, claims({ sub: 'a b' }))), { code: 'TOKEN_INVALID', message: /"sub" claim/ });
  t.match(verify('x'.repeat(MAX_CALLER_TOKEN_LENGTH + 1)), { code: 'TOKEN_INVALID' }, 'too long');

  const ed = generateKeyPairSync('ed25519');
  const pinned = buildCallerTokenVerifier({
    settings: { algorithm: 'EdDSA', uidClaim: 'user_id', clockToleranceSeconds: 30, issuer: 'https://auth.test', audience: 'chat' }, key: ed.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  } as unknown as JwtUserAuth);
  const good = { iss: 'https://auth.test', aud: 'chat', user_id: 'u-42', exp: nowSeconds() + 600 };
  t.equal(pinned(signJwt('EdDSA', ed.privateKey, good)), 'u-42', 'custom uid claim, pinned iss/aud');
  t.equal(pinned(signJwt('EdDSA', ed.privateKey, { ...good, exp: nowSeconds() - 10 })), 'u-42', 'within the clock tolerance');
  t.match(pinned(signJwt('EdDSA', ed.privateKey, { ...good, aud: 'admin' })), { code: 'TOKEN_INVALID' });
  t.match(pinned(signJwt('EdDSA', ed.privateKey, { ...good, iss: undefined })), { code: 'TOKEN_INVALID' });

  const tenant = { userAuth } as unknown as TenantRuntime;
  t.equal(callerTokenVerifierFor(tenant), callerTokenVerifierFor(tenant), 'one verifier per tenant object');
  const broken = { userAuth: { settings: { algorithm: 'RS256', uidClaim: 'sub', clockToleranceSeconds: 0 }, key: 'not a pem' } } as unknown as TenantRuntime;
  t.match(callerTokenVerifierFor(broken)('anything'), { code: 'AUTH_MISCONFIGURED' }, 'an unusable stored key answers AUTH_MISCONFIGURED');
});

t.test('caller token lifetimes are bounded, on an injected clock', async (t) => {
  const secret = randomBytes(32).toString('base64url');
  // Years away from the real time: every time check must use the injected clock.
  let clockMs = 2_000_000_000_000;
  const now = () => clockMs / 1000;
  const build = (settings: Record<string, unknown> = {}) => buildCallerTokenVerifier(
    { settings: { algorithm: 'HS256', uidClaim: 'sub', clockToleranceSeconds: 0, ...settings }, key: secret } as unknown as JwtUserAuth,
    { now: () => clockMs },
  );
  const sign = (claims: Record<string, unknown>) => signJwt('HS256', secret, { sub: 'alice', ...claims });
  // JSON.stringify cannot write 1e999 (it parses as Infinity): the payload is written by hand.
  const signRaw = (json: string) => {
    const input = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(json).toString('base64url')}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  };
  const tooLong = { code: 'TOKEN_INVALID', message: /lives too long/ };
  const future = { code: 'TOKEN_INVALID', message: /issued in the future/ };
  const max = CALLER_TOKEN_LIFETIME.defaultSeconds;
  t.equal(max, 86_400, 'a day by default');

  // Settings without the field are rows stored before it existed: the default applies.
  const verify = build();
  t.equal(verify(sign({ iat: now(), exp: now() + 600 })), 'alice');
  t.match(verify(sign({ iat: now(), exp: 1e308 })), tooLong, 'exp = 1e308 with iat');
  t.match(verify(sign({ exp: 1e308 })), tooLong, 'exp = 1e308 alone');
  t.match(verify(signRaw(`{"sub":"alice","iat":${now()},"exp":1e999}`)), tooLong, 'exp = Infinity');
  t.match(verify(signRaw(`{"sub":"alice","iat":-1e999,"exp":${now() + 60}}`)), tooLong, 'iat = -Infinity');
  t.match(verify(signRaw(`{"sub":"alice","nbf":-1e999,"exp":${now() + 60}}`)), tooLong, 'nbf = -Infinity');
  t.match(verify(signRaw(`{"sub":"alice","iat":1e999,"exp":1e999}`)), future, 'iat = exp = Infinity');

  t.equal(verify(sign({ iat: now(), exp: now() + max })), 'alice', 'exactly the limit after iat');
  t.match(verify(sign({ iat: now(), exp: now() + max + 1 })), tooLong, 'one second over the limit after iat');
  t.equal(verify(sign({ iat: now() - 3_600, exp: now() - 3_600 + max })), 'alice', 'measured from an earlier iat: exactly the limit');
  t.match(verify(sign({ iat: now() - 3_600, exp: now() - 3_600 + max + 1 })), tooLong, 'from an earlier iat, even though exp - now is below the limit');
  t.match(verify(sign({ iat: 0, exp: now() + 60 })), tooLong, 'iat = 0');
  t.match(verify(sign({ iat: String(now()), exp: now() + 60 })), { code: 'TOKEN_INVALID', message: /claim type/ }, 'a non-numeric iat');

  t.equal(verify(sign({ nbf: now() - 600, exp: now() - 600 + max })), 'alice', 'without iat, measured from nbf: exactly the limit');
  t.match(verify(sign({ nbf: now() - 600, exp: now() - 600 + max + 1 })), tooLong, 'without iat, one second over the limit after nbf');
  t.match(verify(sign({ nbf: now() + 1, exp: now() + 60 })), { code: 'TOKEN_INVALID', message: /nbf/ }, 'nbf still refuses a token not valid yet');
  t.equal(verify(sign({ iat: now() - 600, nbf: now(), exp: now() - 600 + max })), 'alice', 'iat wins over nbf');
  t.match(verify(sign({ iat: now() - 600, nbf: now(), exp: now() + max - 1 })), tooLong, 'iat wins over nbf (over the limit)');

  t.equal(verify(sign({ exp: now() + max })), 'alice', 'without iat and nbf, measured from now: exactly the limit');
  t.match(verify(sign({ exp: now() + max + 1 })), tooLong, 'without iat and nbf, one second over');

  t.match(verify(sign({ iat: now() + 1, exp: now() + 60 })), future, 'iat one second in the future, no tolerance');
  t.match(verify(sign({ iat: now() + 86_400 * 365, exp: now() + 86_400 * 365 + 60 })), future, 'iat a year ahead (a lifetime that looks short)');

  const tolerant = build({ clockToleranceSeconds: 30 });
  t.equal(tolerant(sign({ iat: now() + 30, exp: now() + 90 })), 'alice', 'iat within the clock tolerance');
  t.match(tolerant(sign({ iat: now() + 31, exp: now() + 90 })), future, 'iat beyond the clock tolerance');
  t.equal(tolerant(sign({ iat: now() - 90, exp: now() - 30 })), 'alice', 'exp within the clock tolerance');
  t.match(tolerant(sign({ iat: now() - 90, exp: now() - 31 })), { code: 'TOKEN_EXPIRED' }, 'exp beyond the clock tolerance');

  const custom = build({ maxTokenLifetimeSeconds: 300 });
  t.equal(custom(sign({ iat: now(), exp: now() + 300 })), 'alice', 'a custom limit: exactly at it');
  t.match(custom(sign({ iat: now(), exp: now() + 301 })), { code: 'TOKEN_INVALID', message: /more than 300 seconds/ }, 'a custom limit: one second over');
  t.match(custom(sign({ exp: now() + 301 })), tooLong, 'a custom limit, measured from now');
  const long = build({ maxTokenLifetimeSeconds: CALLER_TOKEN_LIFETIME.maxSeconds });
  t.equal(long(sign({ iat: now(), exp: now() + CALLER_TOKEN_LIFETIME.maxSeconds })), 'alice', 'the largest allowed limit');

  const token = sign({ iat: now(), exp: now() + 60 });
  t.equal(verify(token), 'alice');
  clockMs += 61_000;
  t.match(verify(token), { code: 'TOKEN_EXPIRED' }, 'the injected clock decides expiry too');
  t.equal(verify(token), verify(token), 'failures are shared constants');
  const first = verify(sign({ exp: 1e308 }));
  t.match(first, tooLong);
  t.equal(verify(sign({ exp: 1e308 })), first, 'the lifetime failure is one shared object per verifier');

  const realClock = callerTokenVerifierFor({ userAuth: { settings: { algorithm: 'HS256', uidClaim: 'sub', clockToleranceSeconds: 0 }, key: secret } } as unknown as TenantRuntime);
  t.match(realClock(signJwt('HS256', secret, { sub: 'alice', exp: 1e308 })), tooLong, 'the per-tenant verifier applies the default');
  t.equal(realClock(signJwt('HS256', secret, { sub: 'alice', iat: nowSeconds(), exp: nowSeconds() + 600 })), 'alice');
});

t.test('the lifetime setting is normalised with the caller settings', async (t) => {
  const base = { algorithm: 'HS256' as const, secret: 'x'.repeat(32) };
  t.equal(normaliseUserAuth(base).settings.maxTokenLifetimeSeconds, 86_400, 'stored with the default');
  t.equal(normaliseUserAuth({ ...base, maxTokenLifetimeSeconds: 3_600 }).settings.maxTokenLifetimeSeconds, 3_600);
  for (const bad of [59, 2_592_001, 1.5, 1e308]) {
    t.throws(() => normaliseUserAuth({ ...base, maxTokenLifetimeSeconds: bad }), { kind: 'invalid', code: 'VALIDATION_FAILED' }, `${bad} is refused`);
  }
});

t.test('failure classification', async (t) => {
  const kind = (err: unknown) => { const f = classifyFailure(err); return `${f.kind} ${f.error.code}`; };
  t.equal(kind(unavailable('X_DOWN', 'down')), 'transient X_DOWN');
  t.equal(kind(misconfigured('KEY_BAD', 'bad')), 'permanent KEY_BAD');
  t.ok(unavailable('a', 'b') instanceof DomainError);
  t.equal(kind({ name: 'MissingPrivateKeyError', message: 'no key' }), 'permanent SERVICE_KEY_UNAVAILABLE');
  t.equal(kind({ name: 'VirgilHttpError', httpStatus: 503, message: 'x' }), 'transient VIRGIL_UNAVAILABLE');
  t.equal(kind({ name: 'VirgilHttpError', httpStatus: 429, message: 'x' }), 'transient VIRGIL_RATE_LIMITED');
  t.equal(kind({ name: 'VirgilHttpError', httpStatus: 401, message: 'x' }), 'transient VIRGIL_UNAUTHORIZED');
  t.equal(kind({ name: 'VirgilHttpError', httpStatus: 408, message: 'x' }), 'transient VIRGIL_UNAVAILABLE');
  t.equal(kind({ name: 'KeyknoxClientError', status: 400, message: 'x' }), 'permanent VIRGIL_REJECTED', 'keyknox carries `status`');
  t.equal(kind({ name: 'KeyknoxClientError', message: 'x' }), 'transient VIRGIL_UNREACHABLE', 'no status: no answer');
  t.equal(kind(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), 'transient VIRGIL_UNREACHABLE');
  t.equal(kind(Object.assign(new Error('deadlock'), { code: '40P01' })), 'transient DATABASE_ERROR');
  t.equal(kind('weird'), 'transient RECONCILE_ERROR');
  t.equal(classifyFailure(new Error('x'.repeat(1000))).error.message.length, 300, 'messages are shortened');
});

t.test('job ids and backoff', async (t) => {
  t.match(groupJobKey('t', 'g'), /^[0-9a-f]{40}$/);
  t.not(groupJobKey('a', 'bc'), groupJobKey('ab', 'c'), 'the parts are separated');
  t.equal(groupJobKey('t', 'g:1'), groupJobKey('t', 'g:1'), 'stable');
  t.notMatch(reconcileDeduplicationId('t:x', 'g:1'), /:/, 'no ":" for BullMQ');
  t.match(reconcileJobOptions('t', 'g', 3), { attempts: 3, deduplication: { id: reconcileDeduplicationId('t', 'g'), keepLastIfActive: true } });
  t.equal(wakeJobId('t', 'g', 'slot'), `wake-${groupJobKey('t', 'g')}-slot`);
  t.match(wakeJobOptions('t', 'g', 's', -5.4), { jobId: wakeJobId('t', 'g', 's'), delay: 0 }, 'negative delays become 0');
  t.ok(isReconcileGroupJob({ tenantId: 't', guid: 'g' }));
  t.notOk(isReconcileGroupJob({ tenantId: 't' }));
  t.notOk(isReconcileGroupJob(null));
  const backoff = cappedExponentialBackoff({ baseMs: 100, capMs: 1_000 });
  for (const [attempt, nominal] of [[1, 100], [2, 200], [3, 400], [4, 800], [5, 1_000], [20, 1_000]] as const) {
    const delays = Array.from({ length: 50 }, () => backoff(attempt, 'x', new Error(), undefined as never) as number);
    t.ok(delays.every((d) => d >= nominal * 0.8 && d <= nominal * 1.2), `attempt ${attempt}: ${nominal} ms ±20 %`);
  }
});

t.test('sha256 gives the standard digests, as bytes and as hex, of strings (UTF-8) and bytes', async (t) => {
  const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
  t.equal(sha256Hex('abc'), abc);
  t.equal(sha256(Buffer.from('abc')).toString('hex'), abc);
  t.equal(sha256Hex('é'), createHash('sha256').update('é', 'utf8').digest('hex'), 'strings hash as UTF-8');
});
