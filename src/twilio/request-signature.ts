/**
 * `X-Twilio-Signature`: how Twilio signs the requests it sends (twilio-node
 * src/webhooks/webhooks.ts, `getExpectedTwilioSignature` and `validateRequest`).
 *
 *   signature = base64(HMAC-SHA1(auth token, UTF-8 of url + Σ key + value))
 *
 * over the exact URL Twilio requested (scheme, host, port, path and query) followed by every POST
 * parameter, keys sorted; a key sent several times contributes each distinct value, sorted. Twilio
 * signs the URL as configured, and its own validator accepts it with the scheme's default port
 * written out and without it, "since signature generation on the back end is inconsistent": so does
 * this one. The URL is never rebuilt from the request's Host (behind a proxy it would differ); the
 * caller passes the URL the platform was configured with.
 *
 * Every candidate (each accepted auth token × each form of the URL) is computed and compared in
 * constant time, with no early exit, so timing tells nothing about which one matched.
 */
import { createHmac } from 'node:crypto';
import { macsEqual } from '../lib/constant-time.js';

/** POST parameters as received: every value of every key (a null-prototype record). */
export type FormParams = Readonly<Record<string, readonly string[]>>;

/** The data Twilio signs: the URL, then each key with each of its distinct values, both sorted. */
export function signedData(url: string, params: FormParams): string {
  let data = url;
  for (const key of Object.keys(params).sort()) {
    for (const value of [...new Set(params[key])].sort()) data += key + value;
  }
  return data;
}

/** The raw HMAC-SHA1 digest Twilio sends base64-encoded in X-Twilio-Signature. */
export function twilioSignature(authToken: string, url: string, params: FormParams): Buffer {
  return createHmac('sha1', authToken).update(signedData(url, params), 'utf8').digest();
}

/**
 * The URL as configured, with the default port written out (`:443` for https, `:80` otherwise) and
 * without any port, split without normalising anything else (`new URL()` would re-encode the path
 * and query, which Twilio signed as written). Duplicates removed.
 */
export function urlForms(url: string): string[] {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(url);
  if (!match) return [url];
  const [prefix, scheme, authority] = match;
  const userInfoEnd = authority.lastIndexOf('@');
  const userInfo = authority.slice(0, userInfoEnd + 1);
  const hostAndPort = authority.slice(userInfoEnd + 1);
  // A colon starts the port only after the closing bracket of an IPv6 literal.
  const portStart = hostAndPort.indexOf(':', hostAndPort.lastIndexOf(']') + 1);
  const host = portStart === -1 ? hostAndPort : hostAndPort.slice(0, portStart);
  const rest = url.slice(prefix.length);
  const defaultPort = scheme.toLowerCase() === 'https://' ? ':443' : ':80';
  const withoutPort = scheme + userInfo + host + rest;
  const withPort = portStart === -1 ? scheme + userInfo + host + defaultPort + rest : url;
  return [...new Set([url, withoutPort, withPort])];
}

/** Decodes the header's base64; null when it is not base64 of a SHA-1-sized MAC. */
function givenMac(header: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]{27}=$/.test(header)) return null;
  return Buffer.from(header, 'base64');
}

/**
 * Does `header` sign this request, for any of `authTokens` (the current one first, then one being
 * rotated in) and any form of `url`?
 */
export function signatureMatches(opts: { header: string; authTokens: readonly string[]; url: string; params: FormParams }): boolean {
  const given = givenMac(opts.header.trim());
  // A malformed header still costs the same computations as a wrong one.
  const compared = given ?? Buffer.alloc(20);
  let matched = false;
  for (const token of opts.authTokens) {
    for (const url of urlForms(opts.url)) {
      if (macsEqual(compared, twilioSignature(token, url, opts.params))) matched = true;
    }
  }
  return given !== null && matched;
}
