/**
 * A loopback emulator of the Virgil Cloud HTTP services (Cards v5, Keyknox v1/v2, Pythia brainkey)
 * that the unmodified e3kit-node and virgil-sdk clients accept. Point their `apiUrl` at `url`.
 */
import type { FastifyServerOptions } from 'fastify';
import type { AppRegistration, CreatedApp } from '../../emulator/apps.js';
import { parseFaultRules, type FaultRule } from '../../emulator/faults.js';
import { buildEmulatorApp } from './server.js';

export { buildEmulatorApp, type EmulatorApp, type EmulatorAppOptions } from './server.js';
export { ErrorCode } from '../../emulator/errors.js';
export type { AppRegistration, CreatedApp } from '../../emulator/apps.js';
export type { FaultRule } from '../../emulator/faults.js';

export interface StartEmulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a random free port. */
  port?: number;
  dataFile?: string;
  adminToken?: string;
  logger?: boolean | object;
  clockLeewaySeconds?: number;
  bodyLimit?: number;
}

export interface RunningEmulator {
  /** Base URL for the clients' `apiUrl`, without a trailing slash. */
  url: string;
  createApp(): Promise<CreatedApp>;
  /** Registers an app, or another key of an existing app (key rotation). */
  registerApp(app: AppRegistration): Promise<void>;
  /** Replaces all fault rules; throws on an invalid rule. */
  setFaults(rules: FaultRule[]): void;
  clearFaults(): void;
  /** Stops listening and flushes the data file. */
  close(): Promise<void>;
}

export async function startEmulator(options: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  const host = options.host ?? '127.0.0.1';
  const { app, context } = await buildEmulatorApp({
    ...(options.dataFile ? { dataFile: options.dataFile } : {}),
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    ...(options.clockLeewaySeconds !== undefined ? { clockLeewaySeconds: options.clockLeewaySeconds } : {}),
    ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
    logger: (options.logger ?? false) as FastifyServerOptions['logger'],
  });
  await app.listen({ host, port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port ?? 0;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    createApp: async () => context.apps.create(),
    registerApp: async (registration) => {
      // In-process callers own the emulator; only the HTTP route guards key additions.
      context.apps.register(registration, { addKeyToExistingApp: true });
    },
    setFaults: (rules) => context.faults.set(parseFaultRules(rules)),
    clearFaults: () => context.faults.clear(),
    close: () => (closing ??= app.close()),
  };
}
