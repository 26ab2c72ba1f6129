import { ConfigError } from '../config/config.js';

/** Entry points end on a bad setting with one clear line naming it, not a stack trace. */
export function exitOnStartupError(err: unknown): never {
  if (err instanceof ConfigError) console.error(`configuration error: ${err.message}`);
  else console.error(`startup failed: ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
}
