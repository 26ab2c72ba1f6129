/**
 * Fault injection for reliability tests: added latency and error responses on chosen Virgil routes.
 * Faults act before authentication, like a failing gateway in front of the real services.
 */
import { setTimeout as defaultSleep } from 'node:timers/promises';
import { badRequest, ErrorCode, type VirgilErrorBody } from './errors.js';

export interface FaultRule {
  /** `cards`, `keyknox`, `pythia`, `*` (every Virgil route) or a path prefix starting with `/`. */
  route: string;
  /** Only requests with this HTTP method (any when absent). */
  method?: string;
  latencyMs?: number;
  /** Probability of an error response; defaults to 1 when `status` is given, else 0. */
  errorRate?: number;
  /** Status of injected errors (default 503). */
  status?: number;
  /** `code` of the JSON error body (default 90000), e.g. 20304 with 401 or 60007 with 429. */
  code?: number;
  message?: string;
  /** Apply to this many matching requests only, then stop. */
  times?: number;
}

export interface FaultDecision {
  latencyMs: number;
  error?: { status: number; body: VirgilErrorBody };
}

const ROUTE_PREFIXES: Record<string, string> = { cards: '/card/', keyknox: '/keyknox/', pythia: '/pythia/' };
const MAX_RULES = 100;
const MAX_LATENCY_MS = 60_000;

export class FaultInjector {
  #rules: Array<FaultRule & { remaining: number }> = [];
  readonly #random: () => number;
  readonly #sleep: (ms: number) => Promise<unknown>;

  /** `random` decides error rates; `sleep` applies latency (injectable so tests need not wait). */
  constructor(random: () => number = Math.random, sleep: (ms: number) => Promise<unknown> = defaultSleep) {
    this.#random = random;
    this.#sleep = sleep;
  }

  set(rules: FaultRule[]): void {
    this.#rules = rules.map((rule) => ({ ...rule, remaining: rule.times ?? Number.POSITIVE_INFINITY }));
  }

  clear(): void {
    this.#rules = [];
  }

  list(): FaultRule[] {
    return this.#rules.filter((rule) => rule.remaining > 0).map(({ remaining: _remaining, ...rule }) => rule);
  }

  /** The first matching rule that is not used up decides. */
  decide(method: string, path: string): FaultDecision | undefined {
    const rule = this.#rules.find((candidate) => candidate.remaining > 0 && matches(candidate, method, path));
    if (!rule) return undefined;
    rule.remaining -= 1;
    const status = rule.status ?? 503;
    const errorRate = rule.errorRate ?? (rule.status === undefined ? 0 : 1);
    const failing = errorRate > 0 && this.#random() < errorRate;
    return {
      latencyMs: rule.latencyMs ?? 0,
      ...(failing ? { error: { status, body: { code: rule.code ?? ErrorCode.FAULT_INJECTED, message: rule.message ?? `Injected fault (HTTP ${status})` } } } : {}),
    };
  }

  /** Applies latency; returns the error to answer with, if any. */
  async apply(method: string, path: string): Promise<FaultDecision['error']> {
    const decision = this.decide(method, path);
    if (!decision) return undefined;
    if (decision.latencyMs > 0) await this.#sleep(decision.latencyMs);
    return decision.error;
  }
}

function matches(rule: FaultRule, method: string, path: string): boolean {
  if (rule.method && rule.method.toUpperCase() !== method.toUpperCase()) return false;
  if (rule.route === '*') return true;
  return path.startsWith(ROUTE_PREFIXES[rule.route] ?? rule.route);
}

/** Validates rules from the management API or the programmatic API; throws a 400 EmulatorError. */
export function parseFaultRules(input: unknown): FaultRule[] {
  const rules = Array.isArray(input) ? input : (input as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(rules) || rules.length > MAX_RULES) {
    throw badRequest(ErrorCode.BODY_INVALID, `Expected {"rules": [...]} with at most ${MAX_RULES} rules.`);
  }
  return rules.map((raw, index) => parseRule(raw, `rules[${index}]`));
}

function parseRule(raw: unknown, where: string): FaultRule {
  if (typeof raw !== 'object' || raw === null) throw badRequest(ErrorCode.BODY_INVALID, `${where} must be an object.`);
  const r = raw as Record<string, unknown>;
  const fail = (message: string): never => {
    throw badRequest(ErrorCode.BODY_INVALID, `${where}.${message}`);
  };
  if (typeof r.route !== 'string' || !(r.route in ROUTE_PREFIXES || r.route === '*' || /^\/[\x21-\x7e]{0,512}$/.test(r.route))) {
    fail('route must be cards, keyknox, pythia, * or a path prefix starting with /');
  }
  const rule: FaultRule = { route: r.route as string };
  if (r.method !== undefined) rule.method = typeof r.method === 'string' && /^[A-Za-z]{1,10}$/.test(r.method) ? r.method : fail('method must be an HTTP method');
  if (r.latencyMs !== undefined) rule.latencyMs = isInt(r.latencyMs, 0, MAX_LATENCY_MS) ? r.latencyMs : fail(`latencyMs must be an integer 0..${MAX_LATENCY_MS}`);
  if (r.errorRate !== undefined) rule.errorRate = typeof r.errorRate === 'number' && r.errorRate >= 0 && r.errorRate <= 1 ? r.errorRate : fail('errorRate must be a number 0..1');
  if (r.status !== undefined) rule.status = isInt(r.status, 400, 599) ? r.status : fail('status must be an integer 400..599');
  if (r.code !== undefined) rule.code = isInt(r.code, 1, 2 ** 31 - 1) ? r.code : fail('code must be a positive integer');
  if (r.message !== undefined) rule.message = typeof r.message === 'string' && r.message.length > 0 && r.message.length <= 512 ? r.message : fail('message must be a non-empty string');
  if (r.times !== undefined) rule.times = isInt(r.times, 1, 1_000_000) ? r.times : fail('times must be a positive integer');
  return rule;
}

function isInt(value: unknown, min: number, max: number): value is number {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
}
