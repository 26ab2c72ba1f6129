/**
 * What every route module of the emulator needs, and the authenticated caller of a Virgil request.
 */
import type { FastifyRequest } from 'fastify';
import type { AppRegistry } from '../../emulator/apps.js';
import type { VirgilCaller } from '../../emulator/auth.js';
import { appData, type AppData } from '../../emulator/model.js';
import type { FaultInjector } from '../../emulator/faults.js';
import type { PythiaTransformer } from '../../emulator/pythia.js';
import type { EmulatorStore } from '../../emulator/store.js';

export interface EmulatorContext {
  store: EmulatorStore;
  apps: AppRegistry;
  faults: FaultInjector;
  pythia: PythiaTransformer;
  clockLeewaySeconds: number;
  /** Seconds since the epoch; replaceable so expiry can be tested without waiting. */
  now: () => number;
  adminToken?: string;
}

// A WeakMap rather than a FastifyRequest augmentation: the emulator shares the process (and the
// fastify type namespace) with the service it emulates for.
const callers = new WeakMap<FastifyRequest, VirgilCaller>();

export function setCaller(request: FastifyRequest, caller: VirgilCaller): void {
  callers.set(request, caller);
}

/** The caller authenticated by the Virgil JWT hook; only valid inside Virgil routes. */
export function callerOf(request: FastifyRequest): VirgilCaller {
  const caller = callers.get(request);
  if (!caller) throw new Error('Virgil route reached without authentication');
  return caller;
}

export function callerData(context: EmulatorContext, request: FastifyRequest): { caller: VirgilCaller; data: AppData } {
  const caller = callerOf(request);
  return { caller, data: appData(context.store.state, caller.appId) };
}
