/**
 * What scenarios receive and return. A scenario prepares one load (usually a server plus a request
 * rotation); run.ts warms every prepared scenario up, then measures them in interleaved rounds so
 * that drift on a shared machine (other processes, CPU boost, noisy neighbours) hits every scenario
 * alike, and hands the merged rows to the shared table printer.
 */
import type { CallerTokenSet } from './caller-tokens.js';
import type { LoadResult } from './load.js';

export interface VirgilAppCredentials { appId: string; appKeyId: string; appKey: string }

/** Our service, running in a child process on a real PostgreSQL, with one onboarded tenant. */
export interface ServiceFixture {
  url: string;
  /** The tenant's app id (the `appId` header). */
  appId: string;
  adminToken: string;
  databaseUrl: string;
  emulatorUrl: string;
  virgil: VirgilAppCredentials;
  pid: number;
}

export interface BenchContext {
  durationSeconds: number;
  connections: number;
  callers: CallerTokenSet;
  /** The same callers as JSON `{tokens, uids}`, for servers started in another process. */
  callersFile: string;
  /** Credentials used by the baseline and ceiling servers (same key type as the tenant's). */
  virgil: VirgilAppCredentials;
  /** Set for scenarios that declare `needsService`. */
  service?: ServiceFixture;
}

export interface PreparedScenario {
  /** Runs the load for `seconds` and reports it; called for the warm-up and for every round. */
  measure(seconds: number): Promise<LoadResult>;
  note?: string;
  /** Stops whatever prepare() started. */
  stop(): Promise<void>;
}

export interface Scenario {
  id: string;
  name: string;
  needsService: boolean;
  prepare(ctx: BenchContext): Promise<PreparedScenario>;
}

export interface ScenarioRow {
  id: string;
  name: string;
  /** The median round (throughput, latency), with every round's requests and failures. */
  result: LoadResult;
  /** Every round, in order: round i of every scenario ran within the same few seconds. */
  rounds: LoadResult[];
  note?: string;
}
