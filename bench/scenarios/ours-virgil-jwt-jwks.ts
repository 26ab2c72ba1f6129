/**
 * Our service with callers of an identity provider (userAuth type jwks): GET /v1/virgil-jwt with
 * RS256 tokens (what Firebase Auth, Auth0, Clerk and Cognito issue) verified against the keys a
 * local JWKS server publishes. A second tenant on the same API process as the HS256 scenario, so
 * the two rows differ only by the caller verification. The key set is fetched once; what is
 * measured is the per-request cost of verifying an RSA signature with jose, against fast-jwt's
 * HMAC. Tokens are signed once, BENCH_JWKS_USERS (default 2,000) distinct users: RSA signing is
 * slow, and the verifier keeps no per-token cache, so more users would change nothing measured.
 */
import { createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadScenario, type LoadOptions } from '../lib/load.js';
import { preflight } from '../lib/preflight.js';
import type { BenchContext, Scenario } from '../lib/types.js';

export const OURS_VIRGIL_JWT_JWKS_ID = 'ours-virgil-jwt-jwks';
const APP_ID = 'bench-jwks';
const ISSUER = 'https://id.bench.test';

interface Setup { server: Server; tokens: string[] }
let setup: Setup | null = null;

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

async function prepareOnce(ctx: BenchContext): Promise<Setup> {
  if (setup) return setup;
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench-1', alg: 'RS256', use: 'sig' };
  const body = JSON.stringify({ keys: [jwk] });
  // Lives as long as the benchmark: the tenant's JWKS URL must stay valid across API restarts.
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const service = ctx.service!;
  const res = await fetch(`${service.url}/admin/v1/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${service.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      appId: APP_ID, virgil: service.virgil,
      userAuth: { type: 'jwks', jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, issuer: ISSUER, algorithms: ['RS256'] },
    }),
  });
  if (res.status !== 201) throw new Error(`onboarding the JWKS benchmark tenant failed: ${res.status} ${await res.text()}`);
  const users = Number(process.env.BENCH_JWKS_USERS ?? 2_000);
  const now = Math.floor(Date.now() / 1000);
  const header = b64url({ alg: 'RS256', typ: 'JWT', kid: 'bench-1' });
  const tokens = Array.from({ length: users }, (_, i) => {
    const input = `${header}.${b64url({ sub: `jwks-user-${i}-${randomBytes(2).toString('hex')}`, iss: ISSUER, iat: now, exp: now + 3_600 })}`;
    return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
  });
  setup = { server, tokens };
  return setup;
}

export const oursVirgilJwtJwks: Scenario = {
  id: OURS_VIRGIL_JWT_JWKS_ID,
  name: 'ours, JWKS callers (RS256): GET /v1/virgil-jwt',
  needsService: true,
  async prepare(ctx) {
    const service = ctx.service!;
    const { tokens } = await prepareOnce(ctx);
    const headerRotation = tokens.map((t) => ({ appid: APP_ID, authorization: `Bearer ${t}` }));
    await preflight(`${service.url}/v1/virgil-jwt`, { headers: headerRotation[0] }, (b) => ((b as { data?: { virgilToken?: string } }).data?.virgilToken ? null : 'no Virgil JWT'));
    const load: LoadOptions = { url: service.url, method: 'GET', path: '/v1/virgil-jwt', headerRotation, connections: ctx.connections };
    return loadScenario(load, { note: `${headerRotation.length} distinct users, RS256 tokens verified with jose against a JWKS` });
  },
};
