/**
 * Our service: POST /v1/get-identities with 100 ids per request (50 uids + 50 guids), bodies and
 * callers rotated.
 */
import { loadScenario, type LoadOptions } from '../lib/load.js';
import { preflight } from '../lib/preflight.js';
import type { Scenario } from '../lib/types.js';

export const OURS_GET_IDENTITIES_ID = 'ours-get-identities';
const IDS_PER_LIST = 50;
const DISTINCT_BODIES = 256;

export const oursGetIdentities: Scenario = {
  id: OURS_GET_IDENTITIES_ID,
  name: 'ours: POST /v1/get-identities (100 ids)',
  needsService: true,
  async prepare(ctx) {
    const service = ctx.service!;
    const { uids, tokens } = ctx.callers;
    const headerRotation = tokens.map((t) => ({ appid: service.appId, authorization: `Bearer ${t}`, 'content-type': 'application/json' }));
    const bodyRotation: string[] = [];
    for (let b = 0; b < DISTINCT_BODIES; b++) {
      const start = (b * IDS_PER_LIST) % uids.length;
      bodyRotation.push(JSON.stringify({
        uids: uids.slice(start, start + IDS_PER_LIST),
        guids: Array.from({ length: IDS_PER_LIST }, (_, i) => `group-${b}-${i}`),
      }));
    }
    await preflight(`${service.url}/v1/get-identities`, { method: 'POST', headers: headerRotation[0], body: bodyRotation[0] }, (b) => {
      const data = (b as { data?: { userIdentities?: unknown[]; groupIdentities?: unknown[] } }).data;
      return data?.userIdentities?.length === IDS_PER_LIST && data.groupIdentities?.length === IDS_PER_LIST ? null : 'wrong number of identities';
    });
    const load: LoadOptions = { url: service.url, method: 'POST', path: '/v1/get-identities', headerRotation, bodyRotation, connections: ctx.connections };
    return loadScenario(load);
  },
};
