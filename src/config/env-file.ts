/**
 * Reads a `.env` file into process.env when one exists (`.env.example` lists every setting), before
 * the configuration is validated. Variables already set in the environment win, so a value given on
 * the command line or by a process manager is never overridden by the file: that is
 * process.loadEnvFile's own rule (the same as for `--env-file`), pinned by test/unit/env-file.test.ts.
 */
import { existsSync } from 'node:fs';

export function loadEnvFileIfPresent(path = '.env'): boolean {
  if (!existsSync(path)) return false;
  // Checked at run time, not imported: Node 20 before 20.12 lacks it, and only matters with a file.
  if (typeof process.loadEnvFile !== 'function') {
    throw Object.assign(new Error(`${path} cannot be read by Node.js ${process.version}: use Node.js 20.12 or later, or set the variables in the environment`), { code: 'ENV_FILE_UNSUPPORTED' });
  }
  process.loadEnvFile(path);
  return true;
}
