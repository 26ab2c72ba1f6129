/**
 * The user's private key across devices: the recommended login flow, password changes, rotation.
 *
 * Login: a key on this device is used as it is; a card without a key here means another device
 * registered, so the key is restored from its backup with the password; no card means a new user,
 * who registers and backs the key up at once. A card with no backup is the one case with no good
 * answer: a new key would make every message encrypted to the old one unreadable, so login stops
 * with `KEY_BACKUP_MISSING` and leaves the choice (`rotateKey`) to the application, instead of
 * quietly making a new key as CometChat's sample did.
 */
import type { ExtensionApi } from './api.js';
import type { EThreeInstance } from './e3kit.js';
import { asE2eeError, E2eeError, e3kitErrorName } from './errors.js';

/** How `login` obtained the key. */
export type LoginOutcome = 'local-key' | 'restored' | 'registered';

export interface RotationOutcome {
  /** Whether the service was told (`POST /v1/keys/changed`) to re-add the new card to the user's groups. */
  groupsNotified: boolean;
}

function checkPassword(password: unknown): string {
  if (typeof password !== 'string' || password.length === 0) throw new E2eeError('INVALID_ARGUMENT', 'The backup password must be a non-empty string.');
  return password;
}

function passwordError(error: unknown, fallback: 'LOGIN_FAILED' | 'BACKUP_FAILED', message: string): E2eeError {
  if (e3kitErrorName(error) === 'WrongKeyknoxPasswordError') return new E2eeError('WRONG_PASSWORD', 'The backup password is wrong.', { cause: error });
  return asE2eeError(error, fallback, message);
}

export async function login(eThree: EThreeInstance, password: string): Promise<LoginOutcome> {
  checkPassword(password);
  try {
    if (await eThree.hasLocalPrivateKey()) return 'local-key';
    if (await hasCard(eThree)) return await restore(eThree, password);
    try {
      await eThree.register();
    } catch (error) {
      // Another device registered between our search and our publish: its backup is the key.
      if (e3kitErrorName(error) === 'IdentityAlreadyExistsError') return await restore(eThree, password);
      throw error;
    }
  } catch (error) {
    throw passwordError(error, 'LOGIN_FAILED', 'Login failed.');
  }
  await backupKey(eThree, password);
  return 'registered';
}

async function restore(eThree: EThreeInstance, password: string): Promise<'restored'> {
  try {
    await eThree.restorePrivateKey(password);
    return 'restored';
  } catch (error) {
    if (e3kitErrorName(error) === 'PrivateKeyNoBackupError') {
      throw new E2eeError('KEY_BACKUP_MISSING',
        'This user has a Virgil card but no key backup, so the key cannot be brought to this device. '
        + 'rotateKey(password) makes a new key; messages encrypted to the old key then stay unreadable.', { cause: error });
    }
    throw error;
  }
}

async function hasCard(eThree: EThreeInstance): Promise<boolean> {
  try {
    await eThree.findUsers([eThree.identity]);
    return true;
  } catch (error) {
    if (e3kitErrorName(error) === 'UsersNotFoundError') return false;
    throw error;
  }
}

export async function backupKey(eThree: EThreeInstance, password: string): Promise<void> {
  checkPassword(password);
  try {
    await eThree.backupPrivateKey(password);
  } catch (error) {
    throw passwordError(error, 'BACKUP_FAILED', 'The key could not be backed up; call backupKey(password) again.');
  }
}

export async function changePassword(eThree: EThreeInstance, oldPassword: string, newPassword: string): Promise<void> {
  checkPassword(oldPassword);
  checkPassword(newPassword);
  try {
    await eThree.changePassword(oldPassword, newPassword);
  } catch (error) {
    throw passwordError(error, 'BACKUP_FAILED', 'The backup password could not be changed.');
  }
}

/**
 * Replaces the user's key: a new card that supersedes the old one, a backup of the new key under
 * `password` (the old backup is deleted first), and a note to the service so it re-adds the new
 * card to the user's groups. Messages encrypted to the old key become unreadable; group messages
 * stay readable once the service has re-added the card.
 */
export async function rotateKey(eThree: EThreeInstance, api: ExtensionApi, password: string): Promise<RotationOutcome> {
  checkPassword(password);
  try {
    if (await eThree.hasLocalPrivateKey()) await eThree.cleanup();
    await eThree.rotatePrivateKey();
    await eThree.resetPrivateKeyBackup();
  } catch (error) {
    throw asE2eeError(error, 'KEY_ROTATION_FAILED', 'The key could not be rotated.');
  }
  await backupKey(eThree, password);
  const notified = await api.keysChanged();
  return { groupsNotified: notified.supported };
}
