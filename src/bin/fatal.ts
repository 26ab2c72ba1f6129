import { ConfigError } from '../config/config.js';

/** Entry points end on a bad setting with one clear line naming it, not a stack trace. */
export function exitOnStartupError(err: unknown): never {
  if (err instanceof ConfigError) console.error(`configuration error: ${err.message}`);
  // A stack trace helps only when the fault is ours; say what failed in one line otherwise.
  else if ((err as NodeJS.ErrnoException)?.code) console.error(`startup failed: ${(err as Error).message}`);
  else console.error(`startup failed: ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
}
