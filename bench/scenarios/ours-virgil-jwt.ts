/**
 * Our service: GET /v1/virgil-jwt, every request from a different user of the benchmark tenant.
 * The preflight checks the token is a genuine Virgil JWT signed with the tenant's APP_KEY.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { decodeVirgilJwt, virgilVerify } from '../../src/virgil/jwt.js';
import { loadScenario, type LoadOptions } from '../lib/load.js';
import { preflight } from '../lib/preflight.js';
import type { Scenario } from '../lib/types.js';

export const OURS_VIRGIL_JWT_ID = 'ours-virgil-jwt';

export const oursVirgilJwt: Scenario = {
  id: OURS_VIRGIL_JWT_ID,
  name: 'ours: GET /v1/virgil-jwt',
  needsService: true,
  async prepare(ctx) {
    const service = ctx.service!;
    const headerRotation = ctx.callers.tokens.map((t) => ({ appid: service.appId, authorization: `Bearer ${t}` }));
    const publicKey = createPublicKey(createPrivateKey({ key: Buffer.from(service.virgil.appKey, 'base64'), format: 'der', type: 'pkcs8' }));
    await preflight(`${service.url}/v1/virgil-jwt`, { headers: headerRotation[0] }, (b) => {
      const data = (b as { data?: { virgilToken?: string; identity?: string } }).data;
      const jwt = data?.virgilToken ? decodeVirgilJwt(data.virgilToken) : null;
      if (!jwt) return 'no Virgil JWT in data.virgilToken';
      if (!virgilVerify(jwt.signingInput, jwt.signature, publicKey)) return 'the Virgil JWT does not verify with the app key';
      return jwt.body.sub === `identity-${data!.identity}` ? null : 'sub does not name the identity';
    });
    const load: LoadOptions = { url: service.url, method: 'GET', path: '/v1/virgil-jwt', headerRotation, connections: ctx.connections };
    return loadScenario(load, { note: `${headerRotation.length} distinct users, HS256 caller tokens` });
  },
};
