/**
 * Pythia BrainKey's transform, behind `POST /pythia/v1/brainkey` (src/http/emulator/pythia.ts).
 *
 * The seed must be a genuine Pythia transform (the client deblinds it and derives the key pair that
 * encrypts its key backup), computed with a secret that never changes for this emulator (it is
 * persisted with the data file) and a per-user tweak, so the same password always yields the same
 * brain key for the same user and a different one for anybody else.
 *
 * Uses the top-level @virgilsecurity/pythia-crypto 2.x, which loads its WASM without `fetch`.
 */
import type { VirgilPythiaCrypto } from '@virgilsecurity/pythia-crypto';
import { badRequest, ErrorCode } from './errors.js';
import type { PythiaSecrets } from './model.js';

/** Size of a blinded password produced by `Pythia.blind` (a compressed curve point). */
export const BLINDED_PASSWORD_LENGTH = 49;

export class PythiaTransformer {
  readonly #crypto: VirgilPythiaCrypto;
  readonly #transformationPrivateKey: Buffer;

  private constructor(crypto: VirgilPythiaCrypto, transformationPrivateKey: Buffer) {
    this.#crypto = crypto;
    this.#transformationPrivateKey = transformationPrivateKey;
  }

  static async create(secrets: PythiaSecrets): Promise<PythiaTransformer> {
    const { initPythia, VirgilPythiaCrypto } = await import('@virgilsecurity/pythia-crypto');
    await initPythia();
    const crypto = new VirgilPythiaCrypto();
    const keyPair = crypto.computeTransformationKeyPair({
      transformationKeyId: Buffer.from(secrets.transformationKeyId, 'base64'),
      pythiaSecret: Buffer.from(secrets.pythiaSecret, 'base64'),
      pythiaScopeSecret: Buffer.from(secrets.pythiaScopeSecret, 'base64'),
    });
    return new PythiaTransformer(crypto, keyPair.privateKey);
  }

  /** Deterministic per (app, identity, brainkey id); NUL separators keep the parts unambiguous. */
  static tweak(appId: string, identity: string, brainKeyId: string | undefined): Buffer {
    return Buffer.from(`${appId}\0${identity}\0${brainKeyId ?? ''}`, 'utf8');
  }

  transform(blindedPassword: Buffer, tweak: Buffer): Buffer {
    try {
      return this.#crypto.transform({ blindedPassword, tweak, transformationPrivateKey: this.#transformationPrivateKey }).transformedPassword;
    } catch {
      throw badRequest(ErrorCode.PYTHIA_BLINDED_PASSWORD_INVALID, '`blinded_password` is not a valid blinded password.');
    }
  }
}
