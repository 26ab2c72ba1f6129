/**
 * Event times. Decisions are ordered by them (last writer wins), so a time far in the future would
 * pin a decision forever; times outside [2000-01-01, now + 5 min] are not trusted.
 */
import { EARLIEST_EVENT_TIME, FUTURE_EVENT_TOLERANCE_MS } from './limits.js';

export function isPlausibleEventTime(ms: number, nowMs: number): boolean {
  return Number.isFinite(ms) && ms >= EARLIEST_EVENT_TIME && ms <= nowMs + FUTURE_EVENT_TOLERANCE_MS;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
export const RFC3339_PATTERN_SOURCE = RFC3339.source;

/** Strict RFC 3339 date-time (offset required) → epoch ms, or NaN. Sub-millisecond digits are dropped. */
export function parseRfc3339(text: string): number {
  const m = RFC3339.exec(text);
  if (!m) return Number.NaN;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  // Date.parse rolls 2026-02-30 over into March: check the calendar date itself.
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) return Number.NaN;
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  return Date.parse(text.toUpperCase());
}

/**
 * Platform timestamps in unix seconds (CometChat); values too large to be seconds are taken as
 * milliseconds. Anything that is not a finite positive number yields NaN.
 */
export function unixTimeToMs(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return Number.NaN;
  return value > 1e11 ? Math.trunc(value) : Math.trunc(value * 1000);
}
