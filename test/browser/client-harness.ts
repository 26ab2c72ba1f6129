/**
 * The browser tests' page script: the client library with @virgilsecurity/e3kit-browser, driven by
 * the test through `window.harness`. Every call answers `{ok}` or `{error: {code, message}}`, so the
 * test sees the library's typed errors. There is deliberately no way to call `group.update()`.
 */
import { EThree } from '@virgilsecurity/e3kit-browser';
import { connect, isE2eeError, type E2eeClient } from '../../src/client/index.js';

type Outcome<T> = { ok: T } | { error: { code: string | null; message: string } };

declare global {
  interface Window {
    /** Exposed by the test: the caller token its tenant's backend would issue. */
    callerToken(): Promise<string>;
    harness: typeof harness;
  }
}

let client: E2eeClient | null = null;
const signedIn = () => {
  if (!client) throw new Error('connect first');
  return client;
};

async function attempt<T>(task: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: await task() };
  } catch (error) {
    return { error: { code: isE2eeError(error) ? error.code : null, message: String(error) } };
  }
}

const harness = {
  connect: (apiUrl: string, appId: string, virgilApiUrl: string) => attempt(async () => {
    client = await connect({ apiUrl, appId, getAuthToken: () => window.callerToken(), eThree: EThree, eThreeOptions: { apiUrl: virgilApiUrl } });
    return { identity: client.identity, groupOwnerIdentity: client.groupOwnerIdentity };
  }),
  login: (password: string) => attempt(() => signedIn().login(password)),
  changePassword: (oldPassword: string, newPassword: string) => attempt(() => signedIn().changePassword(oldPassword, newPassword)),
  encryptFor: (uid: string, text: string) => attempt(() => signedIn().encryptFor(uid, text)),
  decryptFrom: (uid: string, ciphertext: string, encryptedAt: string) => attempt(() => signedIn().decryptFrom(uid, ciphertext, { encryptedAt })),
  groupEncrypt: (guid: string, text: string) => attempt(async () => (await signedIn().group(guid)).encrypt(text)),
  groupDecrypt: (guid: string, ciphertext: string, senderUid: string, encryptedAt: string) =>
    attempt(async () => (await signedIn().group(guid)).decrypt(ciphertext, { senderUid, encryptedAt })),
  groupStats: (guid: string) => attempt(async () => (await signedIn().group(guid)).stats),
};

window.harness = harness;
