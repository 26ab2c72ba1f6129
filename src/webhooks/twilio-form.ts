/**
 * Twilio's form-encoded deliveries (`application/x-www-form-urlencoded`) and their
 * `X-Twilio-Signature`. The signature covers the exact URL Twilio was configured with (taken from
 * the tenant's settings, never rebuilt from the request's Host) and every parameter, so nothing is
 * used before it is checked; the check itself is in src/twilio/request-signature.ts.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { invalid, unauthenticated } from '../lib/errors.js';
import { signatureMatches, type FormParams } from '../twilio/request-signature.js';

export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';

export interface FormBody {
  params: FormParams;
  /** The body as received, decoded as UTF-8 (stored with the event). */
  text: string;
}

/** A form body is printable ASCII: everything else arrives percent-encoded. */
const FORM_BYTES = /^[\x20-\x7e]*$/;

/**
 * Every value of every key, as Twilio signs them (`+` is a space, %XX decoded). A body with other
 * bytes (a raw NUL, which no text column stores, or unencoded UTF-8) is not a form: 400.
 */
export function parseFormBody(raw: Buffer): FormBody {
  const text = raw.toString('latin1');
  if (!FORM_BYTES.test(text)) throw invalid('MALFORMED_FORM', 'The body must be application/x-www-form-urlencoded (printable ASCII, other characters percent-encoded)');
  const params: Record<string, string[]> = Object.create(null);
  for (const [key, value] of new URLSearchParams(text)) (params[key] ??= []).push(value);
  return { params, text };
}

/** The header, present and non-empty: checked before the body is read. */
export function requireSignatureHeader(headers: IncomingHttpHeaders): string {
  const value = headers[TWILIO_SIGNATURE_HEADER];
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) throw unauthenticated('WEBHOOK_SIGNATURE_MISSING', 'X-Twilio-Signature is required');
  return text;
}

/** Throws 401 unless one of the tenant's auth tokens signed this URL and these parameters. */
export function verifyTwilioSignature(opts: { header: string; authTokens: readonly string[]; webhookUrl: string; params: FormParams }): void {
  if (!signatureMatches({ header: opts.header, authTokens: opts.authTokens, url: opts.webhookUrl, params: opts.params })) {
    throw unauthenticated('WEBHOOK_SIGNATURE_INVALID', 'X-Twilio-Signature does not match this app\'s auth token, webhook URL and parameters');
  }
}
