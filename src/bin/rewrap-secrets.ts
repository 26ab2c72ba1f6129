/**
 * `npm run rewrap-secrets`: after putting a new key FIRST in MASTER_KEYS (keeping the old ones),
 * re-seals every tenant secret with it. When it reports 0 values left, old keys can be removed.
 */
import { loadRewrapConfig } from '../config/config.js';
import { loadEnvFileIfPresent } from '../config/env-file.js';
import { Keyring } from '../crypto/envelope.js';
import { createDatabase } from '../db/database.js';
import { rewrapSecrets } from '../tenants/rewrap.js';
import { exitOnStartupError } from './fatal.js';

try {
  loadEnvFileIfPresent();
  const config = loadRewrapConfig(process.env);
  const handle = createDatabase(config.databaseUrl, { max: 2 });
  const keyring = new Keyring(config.masterKeys);
  const result = await rewrapSecrets(handle.db, keyring);
  console.log(`re-wrapped ${result.values} secret(s) across ${result.tenants} tenant(s) with master key "${keyring.activeKeyId}"`);
  await handle.close();
} catch (err) {
  exitOnStartupError(err);
}
