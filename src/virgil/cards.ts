/**
 * The service's own calls to Virgil Cards v5: publishing the tenant's service identity card at
 * onboarding, and checking that a tenant's credentials are accepted (after an APP_KEY rotation).
 * Cards are built and self-signed with node:crypto (Ed25519, the E3Kit default key type).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { unavailable, unprocessable } from '../lib/errors.js';
import { VirgilJwtSigner, virgilSign } from './jwt.js';
import { exportPublicKeyBase64 } from './keys.js';
import { virgilOperation, type VirgilRequestListener } from './request-observer.js';

/** Virgil Cloud's base URL: E3Kit's built-in default, and the production default of VIRGIL_API_URL. */
export const VIRGIL_CLOUD_URL = 'https://api.virgilsecurity.com';

const AGENT = 'e2ee-extension;js;Node20/linux;0.1.0';
const TIMEOUT_MS = 10_000;

export interface VirgilAppCredentials { appId: string; appKeyId: string; appKey: KeyObject }

/**
 * A card's id: the first 32 bytes of SHA-512 over its content snapshot text (UTF-8), in hex — the
 * rule of the Virgil SDKs, shared by our publisher, the emulator and the tests.
 */
export function cardIdOf(contentText: string): string {
  return createHash('sha512').update(Buffer.from(contentText, 'utf8')).digest().subarray(0, 32).toString('hex');
}

/** Virgil refused the app credentials (401): wrong APP_ID, APP_KEY_ID or APP_KEY. */
const credentialsRejected = () => unprocessable('VIRGIL_CREDENTIALS_REJECTED', 'Virgil rejected the app credentials (check APP_ID, APP_KEY_ID and APP_KEY)');
/** Network failure, timeout, 429 or 5xx: worth retrying later. */
const virgilUnavailable = () => unavailable('VIRGIL_UNAVAILABLE', 'Virgil Cloud is unavailable; try again later');

export class VirgilCardPublisher {
  /** `onRequest`: told of each request to Virgil (operation, status, seconds), for the metrics. */
  constructor(readonly apiUrl: string, private readonly onRequest?: VirgilRequestListener) {}

  /**
   * Publishes a self-signed card for `identity` and returns its card id. With `previousCardId`, the
   * card replaces that one (a key rotation, as E3Kit's rotatePrivateKey publishes it).
   */
  async publish(app: VirgilAppCredentials, identity: string, privateKey: KeyObject, previousCardId?: string): Promise<string> {
    const content = JSON.stringify({
      identity,
      created_at: Math.floor(Date.now() / 1000),
      version: '5.0',
      public_key: exportPublicKeyBase64(privateKey),
      ...(previousCardId === undefined ? {} : { previous_card_id: previousCardId }),
    });
    const snapshot = Buffer.from(content, 'utf8').toString('base64');
    const signature = virgilSign(Buffer.from(content, 'utf8'), privateKey).toString('base64');
    const body = { content_snapshot: snapshot, signatures: [{ signer: 'self', signature }] };
    await this.#call(app, identity, '/card/v5', body);
    return cardIdOf(content);
  }

  /** Returns the raw cards published for `identity` (an authenticated call: proves credentials). */
  async search(app: VirgilAppCredentials, callerIdentity: string, identities: string[]): Promise<unknown[]> {
    const res = await this.#call(app, callerIdentity, '/card/v5/actions/search', { identities });
    return Array.isArray(res) ? res : [];
  }

  async #call(app: VirgilAppCredentials, identity: string, path: string, body: unknown): Promise<unknown> {
    const signer = new VirgilJwtSigner({ appId: app.appId, appKeyId: app.appKeyId, appKey: app.appKey, ttlSeconds: 300 });
    const startedAt = performance.now();
    const report = (status: string) => this.onRequest?.(virgilOperation('POST', path), status, (performance.now() - startedAt) / 1000);
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
    } catch {
      report('error');
      throw virgilUnavailable();
    }
    report(String(res.status));
    const text = await res.text().catch(() => '');
    if (res.ok) return text ? JSON.parse(text) : null;
    let message = res.statusText;
    try {
      const parsed = JSON.parse(text) as { message?: string };
      if (parsed.message) message = parsed.message;
    } catch { /* non-JSON error body */ }
    if (res.status === 401) throw credentialsRejected();
    if (res.status === 429 || res.status >= 500) throw virgilUnavailable();
    throw unprocessable('VIRGIL_REQUEST_REJECTED', `Virgil answered ${res.status}: ${message}`);
  }
}
