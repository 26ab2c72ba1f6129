/**
 * `npm run emulator`: the Virgil Cloud emulator on its own.
 *
 * EMULATOR_PORT (default 8787), EMULATOR_HOST (default 127.0.0.1), EMULATOR_DATA_FILE (persist state
 * to this JSON file), EMULATOR_ADMIN_TOKEN (require it on /_emulator/*, where it also allows any Host
 * and adding keys to existing apps), LOG_LEVEL (pino level).
 */
import { startEmulator } from '../http/emulator/index.js';

function portFrom(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`configuration error: EMULATOR_PORT must be an integer 0..65535, got "${value}"`);
    process.exit(1);
  }
  return port;
}

const env = process.env;
try {
  const emulator = await startEmulator({
    host: env.EMULATOR_HOST || '127.0.0.1',
    port: portFrom(env.EMULATOR_PORT, 8787),
    ...(env.EMULATOR_DATA_FILE ? { dataFile: env.EMULATOR_DATA_FILE } : {}),
    ...(env.EMULATOR_ADMIN_TOKEN ? { adminToken: env.EMULATOR_ADMIN_TOKEN } : {}),
    // Readable logs on a terminal, JSON lines otherwise.
    logger: { level: env.LOG_LEVEL || 'info', ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty' } } : {}) },
  });
  console.log(`Virgil emulator listening at ${emulator.url}`);
  const tokenHeader = env.EMULATOR_ADMIN_TOKEN ? ` -H "authorization: Bearer $EMULATOR_ADMIN_TOKEN"` : '';
  console.log(`  create an app:  curl -X POST -H 'content-type: application/json'${tokenHeader} ${emulator.url}/_emulator/apps`);
  console.log(`  e3kit option:   { apiUrl: '${emulator.url}' }`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal} received, stopping the emulator`);
    emulator.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`emulator shutdown failed: ${(error as Error)?.stack ?? String(error)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  console.error(`emulator failed to start: ${(error as Error)?.stack ?? String(error)}`);
  process.exit(1);
}
