/**
 * The part of E3Kit the library uses, described by shape. The application passes E3Kit in
 * (`@virgilsecurity/e3kit-browser` in a page, `@virgilsecurity/e3kit-node` on a server or in tests),
 * so the library imports neither and bundles for browsers without Node modules.
 */

/** A Virgil card as E3Kit returns it from `findUsers`. */
export interface VirgilCard {
  readonly id: string;
  readonly identity: string;
}

export interface EThreeGroup {
  readonly participants: string[];
  encrypt(data: string): Promise<unknown>;
  decrypt(data: string, senderCard: VirgilCard, encryptedAt?: Date): Promise<unknown>;
  update(): Promise<void>;
}

export interface EThreeInstance {
  readonly identity: string;
  hasLocalPrivateKey(): Promise<boolean>;
  register(): Promise<void>;
  rotatePrivateKey(): Promise<void>;
  cleanup(): Promise<void>;
  backupPrivateKey(password: string): Promise<void>;
  restorePrivateKey(password: string): Promise<void>;
  changePassword(oldPassword: string, newPassword: string): Promise<void>;
  resetPrivateKeyBackup(): Promise<void>;
  findUsers(identities: string[]): Promise<Record<string, VirgilCard>>;
  authEncrypt(message: string, card: VirgilCard): Promise<unknown>;
  authDecrypt(message: string, card: VirgilCard, encryptedAt?: Date): Promise<unknown>;
  getGroup(groupId: string): Promise<EThreeGroup | null>;
  loadGroup(groupId: string, initiatorCard: VirgilCard): Promise<EThreeGroup>;
}

export type VirgilTokenCallback = () => Promise<string>;

/** E3Kit's `EThree` class (its static `initialize`), or a function that initialises one. */
export type EThreeSource =
  | { initialize(getToken: VirgilTokenCallback, options?: never): Promise<unknown> }
  | ((getToken: VirgilTokenCallback) => Promise<unknown>);

export async function initializeEThree(source: EThreeSource, getToken: VirgilTokenCallback, options: object | undefined): Promise<EThreeInstance> {
  if (typeof (source as { initialize?: unknown }).initialize === 'function') {
    const initialize = (source as { initialize(getToken: VirgilTokenCallback, options?: object): Promise<unknown> }).initialize;
    return (await initialize.call(source, getToken, options)) as EThreeInstance;
  }
  return (await (source as (getToken: VirgilTokenCallback) => Promise<unknown>)(getToken)) as EThreeInstance;
}
