/**
 * Building webhook deliveries as the platforms send them: Standard Webhooks signatures for the
 * neutral format, CometChat envelopes with realistic `data` shapes, HTTP Basic headers.
 * Pure builders: no database, no server (used by unit and integration tests and by the benchmark).
 */
import { createHmac, randomBytes } from 'node:crypto';

/** A fresh Standard Webhooks secret (`whsec_` + base64 of 32 random bytes). */
export function generateSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** `v1,<base64 HMAC-SHA256(decoded secret, id.timestamp.body)>`, one entry of `webhook-signature`. */
export function signStandardWebhook(secret: string, id: string, timestamp: number | string, body: string | Buffer): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

export interface StandardDelivery {
  id: string;
  payload: string;
  headers: Record<string, string>;
}

/**
 * A signed delivery: headers plus the exact body that was signed. `body` may be a string to sign
 * bytes as given (whitespace, key order), or an object (serialised with JSON.stringify).
 */
export function standardDelivery(secret: string, body: unknown, opts: { id?: string; timestamp?: number; extraSignatures?: string[] } = {}): StandardDelivery {
  const id = opts.id ?? `msg_${randomBytes(12).toString('hex')}`;
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const signature = [...(opts.extraSignatures ?? []), signStandardWebhook(secret, id, timestamp, payload)].join(' ');
  return {
    id,
    payload,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signature,
    },
  };
}

/** A neutral-format event body. */
export function standardEvent(type: string, opts: { guid: string; occurredAt: Date | string; owner?: string; members?: string[] }): Record<string, unknown> {
  return {
    type,
    occurredAt: typeof opts.occurredAt === 'string' ? opts.occurredAt : opts.occurredAt.toISOString(),
    group: { guid: opts.guid, ...(opts.owner !== undefined ? { owner: opts.owner } : {}) },
    ...(opts.members !== undefined ? { members: opts.members } : {}),
  };
}

export function basicAuthHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

export interface CometChatPayloadOptions {
  guid: string;
  /** Keys of `data.members` (the members the trigger is about). */
  members?: string[];
  /** `data.group.owner` (the new owner for group_owner_transferred). */
  owner?: string;
  oldOwner?: string;
  /** `data.by.uid`, the acting user. */
  by?: string;
  /** Unix seconds. */
  createdAt?: number;
  /** Unix seconds; omitted when undefined. */
  updatedAt?: number;
  /** For group_member_scope_changed. */
  scope?: string;
  oldScope?: string;
  appId?: string;
}

const member = (uid: string, extra: Record<string, unknown> = {}) => ({
  uid, name: `User ${uid}`, status: 'available', role: 'default', lastActiveAt: 1696933689,
  conversationId: `${uid}_user_peer`, ...extra,
});

/** A CometChat webhook envelope shaped like the samples of CometChat's documentation. */
export function cometchatPayload(trigger: string, opts: CometChatPayloadOptions): Record<string, unknown> {
  const createdAt = opts.createdAt ?? 1695722891;
  const group: Record<string, unknown> = {
    guid: opts.guid, name: `Group ${opts.guid}`, type: 'public', membersCount: (opts.members ?? []).length,
    conversationId: `group_${opts.guid}`, createdAt, onlineMembersCount: 1,
    ...(opts.owner !== undefined ? { owner: opts.owner } : {}),
    ...(opts.updatedAt !== undefined ? { updatedAt: opts.updatedAt } : {}),
  };
  if (trigger === 'group_created') Object.assign(group, { scope: 'admin', joinedAt: createdAt, hasJoined: true });
  if (trigger === 'group_owner_transferred' && opts.oldOwner !== undefined) Object.assign(group, { oldOwner: opts.oldOwner, updatedBy: opts.oldOwner });
  const scopeExtra = opts.scope !== undefined ? { scope: opts.scope, oldScope: opts.oldScope ?? 'participant' } : {};
  const data: Record<string, unknown> = { group };
  if (opts.members !== undefined) data.members = Object.fromEntries(opts.members.map((uid) => [uid, member(uid, scopeExtra)]));
  if (opts.by !== undefined) data.by = member(opts.by);
  return { trigger, data, appId: opts.appId ?? 'cometchat-app', region: 'us', webhook: 'e2ee-hook' };
}

