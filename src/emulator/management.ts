/**
 * Rules of the emulator's management API that web pages must not get around. Any page the
 * developer visits can send requests to loopback: through DNS rebinding (a name of its own that
 * resolves to 127.0.0.1, which then counts as the page's own origin, so it can even read answers)
 * and through "simple" cross-origin requests (a form or `fetch` with a safelisted content type,
 * sent without a preflight). The Host header names the origin the browser thinks it talks to, and a
 * JSON content type forces a preflight the emulator never answers with CORS.
 */
import { badRequest, ErrorCode } from './errors.js';

export function isLoopbackAddress(address: string | undefined): boolean {
  return address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
}

// Browsers send hosts in canonical form (IPv4 as a dotted quad, IPv6 compressed, names lower-case),
// so nothing else needs to be recognised; a rebound name never takes one of these forms.
const LOOPBACK_HOST = /^(?:localhost|127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})|\[::1\])(?::(\d{1,5}))?$/i;

/** True for `localhost`, `127.0.0.0/8` and `[::1]`, each with or without a port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const match = LOOPBACK_HOST.exec(host);
  if (!match) return false;
  const [, a, b, c, port] = match;
  if ([a, b, c].some((octet) => octet !== undefined && Number(octet) > 255)) return false;
  return port === undefined || Number(port) <= 65535;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Methods that change state; a browser sends them cross-origin only after a preflight unless the content type is simple. */
export function isMutation(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/** The media type must be `application/json` (parameters such as `charset` allowed). */
export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  return value.split(';', 1)[0]!.trim().toLowerCase() === 'application/json';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A management request without parameters: no body or `{}`. */
export function isEmptyManagementBody(body: unknown): boolean {
  return body === undefined || (isPlainObject(body) && Object.keys(body).length === 0);
}

/** `POST /_emulator/reset`: no body, `{}` or `{"apps": boolean}` (whether apps are forgotten too). */
export function parseResetBody(body: unknown): { apps: boolean } {
  if (body === undefined) return { apps: false };
  if (!isPlainObject(body) || Object.keys(body).some((key) => key !== 'apps') || (body.apps !== undefined && typeof body.apps !== 'boolean')) {
    throw badRequest(ErrorCode.BODY_INVALID, 'Send no body, {} or {"apps": true|false}.');
  }
  return { apps: body.apps === true };
}

/** Bodiless mutations (`DELETE /_emulator/faults`) take nothing but `{}`. */
export function assertEmptyManagementBody(body: unknown): void {
  if (!isEmptyManagementBody(body)) throw badRequest(ErrorCode.BODY_INVALID, 'This request takes no body, or {}.');
}
