/**
 * Ceilings: bare node:http serving the same token (see servers/ceiling-http.ts).
 * - `ceiling-virgil-jwt` signs with node:crypto, as the targets define the ceiling;
 * - `ceiling-libsodium-virgil-jwt` signs with the libsodium signer ours uses, so that the ratio of
 *   ours to it shows what everything besides the signature costs (reported, not a target).
 */
import type { Ed25519EngineName } from '../../src/crypto/ed25519.js';
import { startChildServer } from '../lib/child-server.js';
import { loadScenario, type LoadOptions } from '../lib/load.js';
import { preflight } from '../lib/preflight.js';
import type { Scenario } from '../lib/types.js';

export const CEILING_ID = 'ceiling-virgil-jwt';
export const CEILING_SAME_SIGNER_ID = 'ceiling-libsodium-virgil-jwt';

function ceilingScenario(id: string, name: string, engine: Ed25519EngineName): Scenario {
  return {
    id,
    name,
    needsService: false,
    async prepare(ctx) {
      const server = await startChildServer(id, new URL('../servers/ceiling-http.ts', import.meta.url), {
        CALLER_SECRET: ctx.callers.secret,
        VIRGIL_APP_ID: ctx.virgil.appId,
        VIRGIL_APP_KEY_ID: ctx.virgil.appKeyId,
        VIRGIL_APP_KEY: ctx.virgil.appKey,
        CEILING_ED25519_ENGINE: engine,
      });
      try {
        const headerRotation = ctx.callers.tokens.map((t) => ({ authorization: `Bearer ${t}` }));
        await preflight(`${server.url}/v1/virgil-jwt`, { headers: headerRotation[0] }, (b) =>
          typeof (b as { data?: { virgilToken?: unknown } }).data?.virgilToken === 'string' ? null : 'no data.virgilToken');
        const load: LoadOptions = { url: server.url, method: 'GET', path: '/v1/virgil-jwt', headerRotation, connections: ctx.connections };
        return loadScenario(load, { note: `Ed25519 by ${engine}`, stop: () => server.stop() });
      } catch (err) {
        await server.stop();
        throw err;
      }
    },
  };
}

export const ceilingVirgilJwt = ceilingScenario(CEILING_ID, 'ceiling: node:http GET /v1/virgil-jwt', 'node:crypto');
export const ceilingSameSignerVirgilJwt = ceilingScenario(CEILING_SAME_SIGNER_ID, 'ceiling, our signer: node:http GET /v1/virgil-jwt', 'libsodium');
