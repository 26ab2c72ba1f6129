/**
 * `userAuth: {"type": "jwks", …}`: caller tokens from an identity provider that publishes its
 * signing keys as a JWKS. Presets turn the few values an operator knows (a project id, a domain…)
 * into the JWKS URL, issuer, audience and algorithms the provider documents, plus the claim checks
 * it needs (src/auth/jwks-verifier.ts applies them). Explicit jwksUrl, issuer, audience or
 * algorithms win over the preset's (custom domains, proxies, tests).
 *
 * | preset   | operator fills in                              | derived |
 * |----------|------------------------------------------------|---------|
 * | firebase | projectId                                      | Google's securetoken JWKS; iss https://securetoken.google.com/<projectId>; aud <projectId>; RS256; auth_time not in the future |
 * | auth0    | domain, audience (the API identifier)          | https://<domain>/.well-known/jwks.json; iss https://<domain>/; RS256 |
 * | clerk    | frontendApi, authorizedParties (origins)       | https://<frontendApi>/.well-known/jwks.json; iss https://<frontendApi>; RS256; azp, when present, must be an authorized party |
 * | supabase | projectRef                                     | https://<ref>.supabase.co/auth/v1/.well-known/jwks.json; iss https://<ref>.supabase.co/auth/v1; aud authenticated; ES256, RS256 |
 * | cognito  | region, userPoolId, clientId, tokenUse (id)    | https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json; iss the same without the path; id tokens: aud clientId, token_use id; access tokens: client_id clientId, token_use access |
 *
 * The JWKS URL is only ever taken from these settings, never from a token (`iss`, `jku`, `x5u`).
 * It must be https; plain http is accepted for loopback hosts only (development, tests).
 */
import { isIP } from 'node:net';
import type { JwksAlgorithm, JwksPreset, JwksUserAuthSettings } from '../db/schema.js';
import { unprocessable } from '../lib/errors.js';
import { CALLER_TOKEN_LIFETIME, type JwksUserAuthInput } from './types.js';

export const JWKS_ALGORITHMS: readonly JwksAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
export const JWKS_PRESETS: readonly JwksPreset[] = ['firebase', 'auth0', 'clerk', 'supabase', 'cognito'];

export const FIREBASE_JWKS_URL = 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com';

/** A host name (no scheme, path or port): what domain, frontendApi and the like must be. */
const HOST = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;
const COGNITO_REGION = /^[a-z]{2}(?:-[a-z]+)+-\d$/;
const COGNITO_POOL = /^[\w-]+_[0-9A-Za-z]+$/;

interface Derived { jwksUrl?: string; issuer?: string; audience?: string; algorithms?: JwksAlgorithm[] }

function need(value: string | undefined, preset: string, field: string, pattern: RegExp): string {
  if (value === undefined || !pattern.test(value)) {
    throw unprocessable('INVALID_USER_AUTH_PRESET', `userAuth.${field} is required by the ${preset} preset, as the provider spells it (no scheme or path)`);
  }
  return value;
}

function presetValues(input: JwksUserAuthInput): Derived {
  switch (input.preset) {
    case undefined:
      return {};
    case 'firebase': {
      const projectId = need(input.projectId, 'firebase', 'projectId', LABEL);
      return { jwksUrl: FIREBASE_JWKS_URL, issuer: `https://securetoken.google.com/${projectId}`, audience: projectId, algorithms: ['RS256'] };
    }
    case 'auth0': {
      const domain = need(input.domain, 'auth0', 'domain', HOST);
      if (input.audience === undefined) throw unprocessable('INVALID_USER_AUTH_PRESET', 'userAuth.audience (the Auth0 API identifier) is required by the auth0 preset');
      return { jwksUrl: `https://${domain}/.well-known/jwks.json`, issuer: `https://${domain}/`, algorithms: ['RS256'] };
    }
    case 'clerk': {
      const host = need(input.frontendApi, 'clerk', 'frontendApi', HOST);
      return { jwksUrl: `https://${host}/.well-known/jwks.json`, issuer: `https://${host}`, algorithms: ['RS256'] };
    }
    case 'supabase': {
      const ref = need(input.projectRef, 'supabase', 'projectRef', LABEL);
      const base = `https://${ref}.supabase.co/auth/v1`;
      return { jwksUrl: `${base}/.well-known/jwks.json`, issuer: base, audience: 'authenticated', algorithms: ['ES256', 'RS256'] };
    }
    case 'cognito': {
      const region = need(input.region, 'cognito', 'region', COGNITO_REGION);
      const pool = need(input.userPoolId, 'cognito', 'userPoolId', COGNITO_POOL);
      const clientId = need(input.clientId, 'cognito', 'clientId', /^[\w+]{1,128}$/);
      const issuer = `https://cognito-idp.${region}.amazonaws.com/${pool}`;
      const tokenUse = input.tokenUse ?? 'id';
      return { jwksUrl: `${issuer}/.well-known/jwks.json`, issuer, ...(tokenUse === 'id' ? { audience: clientId } : {}), algorithms: ['RS256'] };
    }
  }
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** The JWKS URL must be https (http only for loopback hosts), with no credentials or fragment. */
export function checkJwksUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw unprocessable('INVALID_JWKS_URL', 'userAuth.jwksUrl is not a URL');
  }
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
  if (!secure || url.username || url.password || url.hash) {
    throw unprocessable('INVALID_JWKS_URL', 'userAuth.jwksUrl must be an https URL without credentials or fragment (http only on loopback)');
  }
  return url.href;
}

/** Checks and completes a JWKS configuration into what is stored. */
export function normaliseJwksUserAuth(input: JwksUserAuthInput): JwksUserAuthSettings {
  const derived = presetValues(input);
  const jwksUrl = input.jwksUrl ?? derived.jwksUrl;
  const issuer = input.issuer ?? derived.issuer;
  const algorithms = input.algorithms ?? derived.algorithms;
  if (jwksUrl === undefined || issuer === undefined || algorithms === undefined || algorithms.length === 0) {
    throw unprocessable('INVALID_USER_AUTH_PRESET', 'userAuth of type jwks needs jwksUrl, issuer and algorithms, or a preset that provides them');
  }
  const audience = input.audience ?? derived.audience;
  if (input.preset === 'clerk' && input.authorizedParties === undefined) {
    throw unprocessable('INVALID_USER_AUTH_PRESET', 'userAuth.authorizedParties (the origins of your app, e.g. https://app.example.com) is required by the clerk preset');
  }
  const tokenUse = input.preset === 'cognito' ? input.tokenUse ?? 'id' : undefined;
  return {
    type: 'jwks',
    ...(input.preset ? { preset: input.preset } : {}),
    jwksUrl: checkJwksUrl(jwksUrl),
    issuer,
    ...(audience !== undefined ? { audience } : {}),
    algorithms: [...new Set(algorithms)],
    uidClaim: input.uidClaim ?? 'sub',
    clockToleranceSeconds: input.clockToleranceSeconds ?? 0,
    maxTokenLifetimeSeconds: input.maxTokenLifetimeSeconds ?? CALLER_TOKEN_LIFETIME.defaultSeconds,
    ...(input.preset === 'clerk' ? { authorizedParties: input.authorizedParties } : {}),
    ...(tokenUse !== undefined ? { tokenUse, clientId: input.clientId! } : {}),
  };
}
