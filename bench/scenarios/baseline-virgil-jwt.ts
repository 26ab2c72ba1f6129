/**
 * Naive baseline: Express 5 + virgil-sdk JwtGenerator, as Virgil's sample backend does it (see
 * servers/baseline-express.ts for exactly what it checks).
 */
import { startChildServer } from '../lib/child-server.js';
import { loadScenario, type LoadOptions } from '../lib/load.js';
import { preflight } from '../lib/preflight.js';
import type { Scenario } from '../lib/types.js';

export const BASELINE_ID = 'baseline-virgil-jwt';

export const baselineVirgilJwt: Scenario = {
  id: BASELINE_ID,
  name: 'baseline: express + virgil-sdk GET /v1/virgil-jwt',
  needsService: false,
  async prepare(ctx) {
    const server = await startChildServer('baseline', new URL('../servers/baseline-express.ts', import.meta.url), {
      CALLERS_FILE: ctx.callersFile,
      VIRGIL_APP_ID: ctx.virgil.appId,
      VIRGIL_APP_KEY_ID: ctx.virgil.appKeyId,
      VIRGIL_APP_KEY: ctx.virgil.appKey,
    });
    try {
      const headerRotation = ctx.callers.tokens.map((t) => ({ authorization: `Bearer ${t}` }));
      await preflight(`${server.url}/v1/virgil-jwt`, { headers: headerRotation[0] }, (b) =>
        typeof (b as { virgilToken?: unknown }).virgilToken === 'string' ? null : 'no virgilToken');
      const load: LoadOptions = { url: server.url, method: 'GET', path: '/v1/virgil-jwt', headerRotation, connections: ctx.connections };
      return loadScenario(load, { note: 'caller check = Map lookup of the bearer token, as the sample backend does', stop: () => server.stop() });
    } catch (err) {
      await server.stop();
      throw err;
    }
  },
};
