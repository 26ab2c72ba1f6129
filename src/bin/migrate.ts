/**
 * `npm run migrate`: applies migrations/*.sql to DATABASE_URL (safe to run from several processes).
 */
import { createDatabase } from '../db/database.js';
import { migrate } from '../db/migrator.js';
import { ConfigError } from '../config/config.js';
import { exitOnStartupError } from './fatal.js';

try {
  const url = process.env.DATABASE_URL;
  if (!url) throw new ConfigError('DATABASE_URL', 'is required');
  const handle = createDatabase(url, { max: 1 });
  const result = await migrate(handle.pool);
  console.log(`migrations: ${result.applied.length} applied (${result.applied.join(', ') || 'none'}), ${result.skipped} already present`);
  await handle.close();
} catch (err) {
  exitOnStartupError(err);
}
