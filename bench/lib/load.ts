/**
 * Autocannon measurements on loopback. Every request takes the next caller token (and body, if any)
 * from pre-built rotations, so tens of thousands of distinct users hit the server and no per-user
 * cache on the server side can carry the figure.
 */
import autocannon from 'autocannon';
import type { PreparedScenario } from './types.js';

export interface LoadOptions {
  url: string;
  method: 'GET' | 'POST';
  path: string;
  /** One header object per distinct caller; rotated per request. */
  headerRotation: Array<Record<string, string>>;
  /** Optional request bodies, rotated independently of the headers. */
  bodyRotation?: string[];
  connections: number;
}

export interface LoadResult {
  seconds: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCounts: Record<string, number>;
}

export async function runLoad(opts: LoadOptions, seconds: number): Promise<LoadResult> {
  let nextHeader = 0;
  let nextBody = 0;
  const headers = opts.headerRotation;
  const bodies = opts.bodyRotation;
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: seconds,
    pipelining: 1,
    requests: [{
      method: opts.method,
      path: opts.path,
      setupRequest: (req: autocannon.Request) => {
        req.headers = headers[nextHeader++ % headers.length];
        if (bodies) req.body = bodies[nextBody++ % bodies.length];
        return req;
      },
    }],
  });
  const statusCounts: Record<string, number> = {};
  for (const [status, stat] of Object.entries(result.statusCodeStats ?? {})) statusCounts[status] = stat.count;
  return {
    seconds,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCounts,
  };
}

/** The p-th percentile (nearest rank) of ascending values; NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * One figure from several rounds: the median round for throughput and latency percentiles (robust
 * to a burst of activity from another process during one round), and every request, error and
 * status code of every round, so nothing that went wrong is hidden.
 */
export function mergeRounds(rounds: LoadResult[]): LoadResult {
  const seconds = rounds.reduce((s, r) => s + r.seconds, 0);
  const total = rounds.reduce((s, r) => s + r.total, 0);
  const statusCounts: Record<string, number> = {};
  for (const r of rounds) for (const [k, v] of Object.entries(r.statusCounts)) statusCounts[k] = (statusCounts[k] ?? 0) + v;
  return {
    seconds,
    total,
    requestsPerSecond: median(rounds.map((r) => r.total / r.seconds)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    non2xx: rounds.reduce((s, r) => s + r.non2xx, 0),
    errors: rounds.reduce((s, r) => s + r.errors, 0),
    timeouts: rounds.reduce((s, r) => s + r.timeouts, 0),
    statusCounts,
  };
}

/** A scenario ready to measure `load`: `stop` ends what its preparation started (nothing by default). */
export function loadScenario(load: LoadOptions, opts: { note?: string; stop?: () => Promise<void> } = {}): PreparedScenario {
  return { measure: (seconds) => runLoad(load, seconds), note: opts.note, stop: opts.stop ?? (async () => {}) };
}
