/**
 * Reads a `.env` file into process.env when one exists (`.env.example` lists every setting), before
 * the configuration is validated. Variables already set in the environment win, so a value given on
 * the command line or by a process manager is never overridden by the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';

export function loadEnvFileIfPresent(path = '.env'): boolean {
  if (!existsSync(path)) return false;
  // process.loadEnvFile would do the same, but it overrides variables that are already set on some
  // Node 20 releases; parsing and copying keeps "the environment wins" on every version.
  const parsed = (parseEnv as (text: string) => Record<string, string>)(readFileSync(path, 'utf8'));
  for (const [name, value] of Object.entries(parsed)) {
    if (process.env[name] === undefined) process.env[name] = value;
  }
  return true;
}
