/**
 * Twilio Access Tokens with a Chat grant, the credential the Twilio Conversations SDK connects with.
 *
 * The format is twilio-node's `AccessToken` (src/jwt/AccessToken.ts): a JWT signed with HS256 and
 * the API key secret, header `{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}`, body
 * `{"jti":"<key sid>-<iat>","grants":{"identity":…,"chat":{"service_sid":…}},"iat","exp","iss":<key sid>,
 * "sub":<account sid>}` in that key order (what its jsonwebtoken call writes). Written here with
 * node:crypto: the token is a dozen lines, and the `twilio` package (an HTTP client and more) is not
 * needed at run time. Tests decode our tokens next to the package's own.
 */
import { createHmac } from 'node:crypto';

/** Twilio accepts Access Tokens that live at most a day. */
export const ACCESS_TOKEN_MAX_TTL_SECONDS = 86_400;
export const ACCESS_TOKEN_DEFAULT_TTL_SECONDS = 3_600;

export interface AccessTokenSignerOptions {
  accountSid: string;
  apiKeySid: string;
  apiKeySecret: string;
  /** The Conversations service the Chat grant opens. */
  serviceSid: string;
  ttlSeconds: number;
}

export interface SignedAccessToken { token: string; expiresAt: Date }

const HEADER_B64 = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT', cty: 'twilio-fpa;v=1' })).toString('base64url');

export class TwilioAccessTokenSigner {
  readonly ttlSeconds: number;
  readonly #opts: AccessTokenSignerOptions;

  constructor(opts: AccessTokenSignerOptions) {
    this.#opts = opts;
    this.ttlSeconds = opts.ttlSeconds;
  }

  /** A token for `identity` (the chat user's id, as Twilio knows them). */
  sign(identity: string, nowMs: number = Date.now()): SignedAccessToken {
    const { accountSid, apiKeySid, apiKeySecret, serviceSid } = this.#opts;
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + this.ttlSeconds;
    const body = {
      jti: `${apiKeySid}-${iat}`,
      grants: { identity, chat: { service_sid: serviceSid } },
      iat,
      exp,
      iss: apiKeySid,
      sub: accountSid,
    };
    const unsigned = `${HEADER_B64}.${Buffer.from(JSON.stringify(body)).toString('base64url')}`;
    const signature = createHmac('sha256', apiKeySecret).update(unsigned).digest('base64url');
    return { token: `${unsigned}.${signature}`, expiresAt: new Date(exp * 1000) };
  }
}
