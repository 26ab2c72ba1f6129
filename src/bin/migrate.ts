/**
 * `npm run migrate`: applies migrations/*.sql to DATABASE_URL (safe to run from several processes).
 */
import { loadMigrateConfig } from '../config/config.js';
import { loadEnvFileIfPresent } from '../config/env-file.js';
import { createDatabase } from '../db/database.js';
import { migrate } from '../db/migrator.js';
import { exitOnStartupError } from './fatal.js';

try {
  loadEnvFileIfPresent();
  const config = loadMigrateConfig(process.env);
  const handle = createDatabase(config.databaseUrl, { max: 1 });
  const result = await migrate(handle.pool);
  console.log(`migrations: ${result.applied.length} applied (${result.applied.join(', ') || 'none'}), ${result.skipped} already present`);
  await handle.close();
} catch (err) {
  exitOnStartupError(err);
}
