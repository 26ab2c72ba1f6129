/**
 * The service's own calls to Virgil Cards v5: publishing the tenant's service identity card at
 * onboarding, and checking that a tenant's credentials are accepted (after an APP_KEY rotation).
 * Cards are built and self-signed with node:crypto (Ed25519, the E3Kit default key type).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { VirgilJwtSigner, virgilSign } from './jwt.js';
import { exportPublicKeyBase64 } from './keys.js';

const AGENT = 'e2ee-extension;js;Node20/linux;0.1.0';
const TIMEOUT_MS = 10_000;

export interface VirgilAppCredentials { appId: string; appKeyId: string; appKey: KeyObject }

/** Virgil refused the app credentials (401): wrong APP_ID, APP_KEY_ID or APP_KEY. */
export class VirgilCredentialsRejectedError extends Error { override name = 'VirgilCredentialsRejectedError'; }
/** Virgil answered 4xx to a well-formed request. */
export class VirgilRequestRejectedError extends Error {
  override name = 'VirgilRequestRejectedError';
  constructor(message: string, readonly status: number, readonly code: number | null) { super(message); }
}
/** Network failure, timeout, 429 or 5xx: worth retrying later. */
export class VirgilUnavailableError extends Error { override name = 'VirgilUnavailableError'; }

export function cardIdOf(contentSnapshotBase64: string): string {
  const text = Buffer.from(contentSnapshotBase64, 'base64').toString('latin1');
  return createHash('sha512').update(Buffer.from(text, 'utf8')).digest().subarray(0, 32).toString('hex');
}

export class VirgilCardPublisher {
  constructor(readonly apiUrl: string) {}

  /** Publishes a self-signed card for `identity` and returns its card id. */
  async publish(app: VirgilAppCredentials, identity: string, privateKey: KeyObject): Promise<string> {
    const content = JSON.stringify({
      identity,
      created_at: Math.floor(Date.now() / 1000),
      version: '5.0',
      public_key: exportPublicKeyBase64(privateKey),
    });
    const snapshot = Buffer.from(content, 'utf8').toString('base64');
    const signature = virgilSign(Buffer.from(content, 'utf8'), privateKey).toString('base64');
    const body = { content_snapshot: snapshot, signatures: [{ signer: 'self', signature }] };
    await this.#call(app, identity, '/card/v5', body);
    return cardIdOf(snapshot);
  }

  /** Returns the raw cards published for `identity` (an authenticated call: proves credentials). */
  async search(app: VirgilAppCredentials, callerIdentity: string, identities: string[]): Promise<unknown[]> {
    const res = await this.#call(app, callerIdentity, '/card/v5/actions/search', { identities });
    return Array.isArray(res) ? res : [];
  }

  async #call(app: VirgilAppCredentials, identity: string, path: string, body: unknown): Promise<unknown> {
    const signer = new VirgilJwtSigner({ appId: app.appId, appKeyId: app.appKeyId, appKey: app.appKey, ttlSeconds: 300 });
    let res: Response;
    try {
      res = await fetch(this.apiUrl + path, {
        method: 'POST',
        headers: {
          authorization: `Virgil ${signer.sign(identity).token}`,
          'content-type': 'application/json',
          'virgil-agent': AGENT,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw new VirgilUnavailableError(`Virgil is unreachable: ${(err as Error).message}`);
    }
    const text = await res.text().catch(() => '');
    if (res.ok) return text ? JSON.parse(text) : null;
    let code: number | null = null;
    let message = res.statusText;
    try {
      const parsed = JSON.parse(text) as { code?: number; message?: string };
      code = typeof parsed.code === 'number' ? parsed.code : null;
      if (parsed.message) message = parsed.message;
    } catch { /* non-JSON error body */ }
    if (res.status === 401) throw new VirgilCredentialsRejectedError(`Virgil rejected the app credentials: ${message}`);
    if (res.status === 429 || res.status >= 500) throw new VirgilUnavailableError(`Virgil answered ${res.status}: ${message}`);
    throw new VirgilRequestRejectedError(`Virgil answered ${res.status}: ${message}`, res.status, code);
  }
}
