/**
 * The shared report: one table row per scenario, then the targets (each PASS or FAIL). Errors,
 * timeouts and non-2xx answers are always shown, with their status codes.
 */
import type { ScenarioRow } from './types.js';

/** `pass: null` marks a figure shown for information, with no target. */
export interface TargetCheck { name: string; value: string; target: string; pass: boolean | null }

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

function failures(row: ScenarioRow): string {
  const r = row.result;
  const bad = r.errors + r.timeouts + r.non2xx;
  if (bad === 0) return '0';
  const statuses = Object.entries(r.statusCounts).filter(([s]) => !s.startsWith('2')).map(([s, n]) => `${s}×${n}`);
  return [`${bad}`, r.errors ? `errors ${r.errors}` : '', r.timeouts ? `timeouts ${r.timeouts}` : '', ...statuses].filter(Boolean).join(' ');
}

export function formatTable(rows: ScenarioRow[]): string {
  const header = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'errors/non-2xx'];
  // req/s, p50 and p99 are the median round; requests and failures count every round.
  const lines = rows.map((row) => [
    row.name,
    row.result.requestsPerSecond.toFixed(0),
    row.result.p50.toFixed(2),
    row.result.p99.toFixed(2),
    String(row.result.total),
    failures(row),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 5 ? pad(c, widths[i]) : lpad(c, widths[i]))).join('  ');
  const out = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)];
  for (const row of rows) if (row.note) out.push(`  ${row.name}: ${row.note}`);
  return out.join('\n');
}

export function formatTargets(title: string, checks: TargetCheck[]): string {
  if (checks.length === 0) return '';
  const w0 = Math.max(...checks.map((c) => c.name.length));
  const w1 = Math.max(...checks.map((c) => c.value.length));
  const w2 = Math.max(...checks.map((c) => c.target.length));
  return [title, ...checks.map((c) => `  ${pad(c.name, w0)}  ${lpad(c.value, w1)}  ${pad(c.target, w2)}  ${c.pass === null ? 'info' : c.pass ? 'PASS' : 'FAIL'}`)].join('\n');
}
