/**
 * The scenarios of `npm run bench`, in run order. Scenarios that need our service (with its
 * database and emulator) run after the others, while it is up. Add a scenario by writing a module
 * that exports a Scenario and listing it here.
 */
import type { Scenario } from '../lib/types.js';
import { baselineVirgilJwt } from './baseline-virgil-jwt.js';
import { ceilingSameSignerVirgilJwt, ceilingVirgilJwt } from './ceiling-virgil-jwt.js';
import { oursGetIdentities } from './ours-get-identities.js';
import { oursVirgilJwt } from './ours-virgil-jwt.js';
import { oursVirgilJwtRedis } from './ours-virgil-jwt-redis.js';
import { oursVirgilJwtJwks } from './ours-virgil-jwt-jwks.js';

export const scenarios: Scenario[] = [ceilingVirgilJwt, ceilingSameSignerVirgilJwt, baselineVirgilJwt, oursVirgilJwt, oursVirgilJwtJwks, oursVirgilJwtRedis, oursGetIdentities];
