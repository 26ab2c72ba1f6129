/**
 * Virgil identities for a tenant's users and groups: lowercase hex of
 * HMAC-SHA256(identity secret, "user\0" + uid | "group\0" + guid), first 32 hex chars.
 * Deterministic (same on every replica, forever), ASCII and file-name safe, ≥ 10 bytes as E3Kit group
 * ids require, separate namespaces for users and groups, and no personal data (a uid may be an email).
 */
import { createHmac } from 'node:crypto';

const IDENTITY_HEX_CHARS = 32;

export function userIdentity(secret: Buffer, uid: string): string {
  return createHmac('sha256', secret).update(`user\0${uid}`, 'utf8').digest('hex').slice(0, IDENTITY_HEX_CHARS);
}

export function groupIdentity(secret: Buffer, guid: string): string {
  return createHmac('sha256', secret).update(`group\0${guid}`, 'utf8').digest('hex').slice(0, IDENTITY_HEX_CHARS);
}

/** The service identity of a tenant: in the user namespace shape, but under a reserved label. */
export function serviceIdentity(secret: Buffer): string {
  return createHmac('sha256', secret).update('service\0group-owner', 'utf8').digest('hex').slice(0, IDENTITY_HEX_CHARS);
}
