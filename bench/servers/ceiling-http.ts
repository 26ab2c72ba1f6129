/**
 * The ceiling: what one core can do for GET /v1/virgil-jwt with nothing but node:http and
 * node:crypto. It checks the same HS256 caller token (HMAC compare and exp check), derives the same
 * identity, signs the Virgil JWT with node:crypto (or, with CEILING_ED25519_ENGINE=libsodium, with
 * the libsodium signer ours uses), and answers the same JSON — no framework, routing, tenant lookup,
 * schemas, headers policy or rate limits.
 *
 * Env: CALLER_SECRET, VIRGIL_APP_ID, VIRGIL_APP_KEY_ID, VIRGIL_APP_KEY (base64 PKCS#8 Ed25519),
 * CEILING_ED25519_ENGINE (node:crypto by default).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Ed25519EngineName } from '../../src/crypto/ed25519.js';
import { userIdentity } from '../../src/crypto/identity.js';
import { importEd25519PrivateKey } from '../../src/virgil/keys.js';
import { VirgilJwtSigner } from '../../src/virgil/jwt.js';
import { reportReady, reportStartFailure } from '../lib/child-server.js';

function env(name: string): string {
  const v = process.env[name];
  if (!v) reportStartFailure(new Error(`${name} is not set`));
  return v;
}

const callerSecret = env('CALLER_SECRET');
const appKey = importEd25519PrivateKey(env('VIRGIL_APP_KEY'));
if (!appKey) reportStartFailure(new Error('VIRGIL_APP_KEY does not import'));
// node:crypto, as the ceiling is defined; CEILING_ED25519_ENGINE=libsodium gives the variant with our signer.
const engine: Ed25519EngineName = process.env.CEILING_ED25519_ENGINE === 'libsodium' ? 'libsodium' : 'node:crypto';
const signer = new VirgilJwtSigner({ appId: env('VIRGIL_APP_ID'), appKeyId: env('VIRGIL_APP_KEY_ID'), appKey, ttlSeconds: 1200, engine });
const identitySecret = randomBytes(32);
const serviceIdentity = randomBytes(16).toString('hex');

/** The uid of a valid HS256 token, or null. */
function verifyCaller(header: string | undefined): string | null {
  if (!header || !header.startsWith('Bearer ')) return null;
  const token = header.slice(7);
  const dot2 = token.lastIndexOf('.');
  const dot1 = token.indexOf('.');
  if (dot1 <= 0 || dot2 <= dot1) return null;
  const expected = createHmac('sha256', callerSecret).update(token.slice(0, dot2)).digest();
  const given = Buffer.from(token.slice(dot2 + 1), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const claims = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8'));
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now() || typeof claims.sub !== 'string') return null;
    return claims.sub;
  } catch {
    return null;
  }
}

const server = http.createServer((req, res) => {
  if (req.method !== 'GET' || req.url !== '/v1/virgil-jwt') {
    res.writeHead(404).end();
    return;
  }
  const uid = verifyCaller(req.headers.authorization);
  if (uid === null) {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"TOKEN_INVALID","message":"invalid token"}}');
    return;
  }
  const identity = userIdentity(identitySecret, uid);
  const { token, expiresAt } = signer.sign(identity);
  const body = JSON.stringify({ data: { virgilToken: token, identity, expiresAt: expiresAt.toISOString(), groupOwnerIdentity: serviceIdentity } });
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => reportReady((server.address() as { port: number }).port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
