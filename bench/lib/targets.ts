/**
 * The targets of GET /v1/virgil-jwt: at least 2.5× the naive baseline, at least 80% of the bare
 * node:http ceiling (which signs with node:crypto), p99 under 10 ms, and no error of any kind.
 * Ours against the ceiling that signs with our own signer is shown too, for information: it is what
 * the framework, tenant, rate limits and headers cost once the signature is the same.
 *
 * Ratios are paired: ours ÷ other within each round (the two ran seconds apart, under the same
 * machine conditions), then the median over rounds. On a shared machine this cancels most of the
 * drift that comparing two separately taken medians would keep.
 */
import type { TargetCheck } from './table.js';
import type { ScenarioRow } from './types.js';

export const TARGETS = { vsBaseline: 2.5, vsCeiling: 0.8, p99Ms: 10 } as const;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Median over rounds of ours/other throughput; null when either has no usable round. */
export function pairedRatio(ours: ScenarioRow, other: ScenarioRow): number | null {
  const ratios: number[] = [];
  const n = Math.min(ours.rounds.length, other.rounds.length);
  for (let i = 0; i < n; i++) {
    const o = ours.rounds[i].total / ours.rounds[i].seconds;
    const x = other.rounds[i].total / other.rounds[i].seconds;
    if (x > 0) ratios.push(o / x);
  }
  return ratios.length > 0 ? median(ratios) : null;
}

export function virgilJwtTargets(rows: ScenarioRow[], ids: { ours: string; baseline: string; ceiling: string; ceilingSameSigner?: string }): TargetCheck[] {
  const find = (id: string) => rows.find((r) => r.id === id);
  const ours = find(ids.ours);
  if (!ours) return [];
  const checks: TargetCheck[] = [];
  const baseline = find(ids.baseline);
  const ceiling = find(ids.ceiling);
  const vsBaseline = baseline ? pairedRatio(ours, baseline) : null;
  if (vsBaseline !== null) {
    checks.push({ name: 'ours / baseline', value: `${vsBaseline.toFixed(2)}×`, target: `≥ ${TARGETS.vsBaseline}×`, pass: vsBaseline >= TARGETS.vsBaseline });
  }
  const vsCeiling = ceiling ? pairedRatio(ours, ceiling) : null;
  if (vsCeiling !== null) {
    checks.push({ name: 'ours / ceiling', value: `${(vsCeiling * 100).toFixed(1)}%`, target: `≥ ${TARGETS.vsCeiling * 100}%`, pass: vsCeiling >= TARGETS.vsCeiling });
  }
  const sameSigner = ids.ceilingSameSigner ? find(ids.ceilingSameSigner) : undefined;
  const vsSameSigner = sameSigner ? pairedRatio(ours, sameSigner) : null;
  if (vsSameSigner !== null) {
    checks.push({ name: 'ours / ceiling, our signer', value: `${(vsSameSigner * 100).toFixed(1)}%`, target: 'no target', pass: null });
  }
  checks.push({ name: 'p99', value: `${ours.result.p99.toFixed(2)} ms`, target: `< ${TARGETS.p99Ms} ms`, pass: ours.result.p99 < TARGETS.p99Ms });
  const bad = ours.result.errors + ours.result.timeouts + ours.result.non2xx;
  checks.push({ name: 'errors/non-2xx', value: String(bad), target: '0', pass: bad === 0 });
  return checks;
}
