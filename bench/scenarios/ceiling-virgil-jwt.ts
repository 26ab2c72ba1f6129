/**
 * Ceiling: bare node:http + node:crypto serving the same token (see servers/ceiling-http.ts).
 */
import { startChildServer } from '../lib/child-server.js';
import { runLoad, type LoadOptions } from '../lib/load.js';
import { preflight } from '../lib/preflight.js';
import type { Scenario } from '../lib/types.js';

export const CEILING_ID = 'ceiling-virgil-jwt';

export const ceilingVirgilJwt: Scenario = {
  id: CEILING_ID,
  name: 'ceiling: node:http GET /v1/virgil-jwt',
  needsService: false,
  async prepare(ctx) {
    const server = await startChildServer('ceiling', new URL('../servers/ceiling-http.ts', import.meta.url), {
      CALLER_SECRET: ctx.callers.secret,
      VIRGIL_APP_ID: ctx.virgil.appId,
      VIRGIL_APP_KEY_ID: ctx.virgil.appKeyId,
      VIRGIL_APP_KEY: ctx.virgil.appKey,
    });
    try {
      const headerRotation = ctx.callers.tokens.map((t) => ({ authorization: `Bearer ${t}` }));
      await preflight(`${server.url}/v1/virgil-jwt`, { headers: headerRotation[0] }, (b) =>
        typeof (b as { data?: { virgilToken?: unknown } }).data?.virgilToken === 'string' ? null : 'no data.virgilToken');
      const load: LoadOptions = { url: server.url, method: 'GET', path: '/v1/virgil-jwt', headerRotation, connections: ctx.connections };
      return { measure: (seconds) => runLoad(load, seconds), stop: () => server.stop() };
    } catch (err) {
      await server.stop();
      throw err;
    }
  },
};
