/**
 * `e2ee-extension/client`: the chat-client half of e2ee-extension. No Node modules and no
 * dependencies: E3Kit is passed in, so the same code runs with `@virgilsecurity/e3kit-browser` in a
 * page and `@virgilsecurity/e3kit-node` on Node.
 */
export { connect, E2eeClient, type ConnectOptions, type DirectDecryptOptions } from './connect.js';
export { E2eeGroup, type DecryptOptions, type GroupStats } from './group.js';
export { E2eeError, isE2eeError, type E2eeErrorCode } from './errors.js';
export type { LoginOutcome, RotationOutcome } from './keys.js';
export type { EThreeGroup, EThreeInstance, EThreeSource, VirgilCard } from './e3kit.js';
export type { FetchLike, GroupMembership } from './api.js';
export type { IdentityDirectory } from './directory.js';
