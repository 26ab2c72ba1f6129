/**
 * HTTP Basic authentication of CometChat deliveries. Username and password are both compared in
 * constant time, and both comparisons always run.
 */
import { secretsEqual } from '../lib/constant-time.js';

export interface BasicCredentials { username: string; password: string }

/** Decodes `Authorization: Basic base64(user:pass)`; null when absent or malformed. */
export function parseBasicAuthorization(header: string | undefined): BasicCredentials | null {
  if (!header) return null;
  const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const sep = decoded.indexOf(':');
  if (sep < 0) return null;
  return { username: decoded.slice(0, sep), password: decoded.slice(sep + 1) };
}

export function basicCredentialsMatch(given: BasicCredentials, expected: BasicCredentials): boolean {
  const userOk = secretsEqual(given.username, expected.username);
  const passOk = secretsEqual(given.password, expected.password);
  return userOk && passOk;
}
