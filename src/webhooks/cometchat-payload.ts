/**
 * CometChat webhook deliveries: `{"trigger", "data", "appId", "region", "webhook"}`.
 *
 * Group triggers map one to one onto GroupEvent types; every other trigger (group_updated,
 * message and user triggers) is acknowledged and ignored. `data.members` is an object keyed by uid;
 * the keys are the members. Unknown fields are tolerated: CometChat adds fields over time.
 *
 * Event time. Deliveries carry no event id and no event timestamp, so the time is inferred:
 *  - group_created: `data.group.createdAt`, else `data.group.updatedAt`;
 *  - every other trigger: `data.group.updatedAt` (CometChat's samples show it moving with
 *    membership changes, e.g. a kick's updatedAt is after the actor's last activity);
 *  - otherwise, or when the value is implausible (before 2000 or more than 5 minutes ahead of our
 *    clock), the time we received the delivery.
 * Values are unix seconds, so same-second decisions tie; ties are resolved by the desired-state
 * rules (removal wins).
 *
 * Deduplication. The key is SHA-256 of the canonical JSON of what the rules use: the trigger, the
 * guid, the owner, the member uids and the group's times. A retried delivery of the same content is
 * a no-op, and distinct actions differ at least in their timestamps. Fields the service does not
 * use are not walked at all, so they can be anything (deeply nested, huge) without cost.
 *
 * Known CometChat bug: for group_member_banned / group_member_unbanned performed with onBehalfOf,
 * `data.members` holds the acting user instead of the target. The event is taken as delivered.
 */
import { Type } from '@sinclair/typebox';
import { sha256Hex } from '../lib/sha256.js';
import { canonicalJson } from './canonical-json.js';
import { isPlausibleEventTime, unixTimeToMs } from './event-time.js';
import { MEMBER_EVENT_TYPES, type GroupEvent, type GroupEventType } from '../groups/group-event.js';
import { ID_RULE, isValidId } from '../lib/ids.js';
import { MAX_MEMBERS_PER_EVENT } from './limits.js';
import { compileCheck, Id, payloadInvalid } from './schema-check.js';

export const COMETCHAT_GROUP_TRIGGERS: Readonly<Record<string, GroupEventType>> = {
  group_created: 'group.created',
  group_deleted: 'group.deleted',
  group_member_added: 'group.member_added',
  group_member_joined: 'group.member_joined',
  group_member_left: 'group.member_left',
  group_member_kicked: 'group.member_kicked',
  group_member_banned: 'group.member_banned',
  group_member_unbanned: 'group.member_unbanned',
  group_member_scope_changed: 'group.member_scope_changed',
  group_owner_transferred: 'group.owner_transferred',
};

const open = { additionalProperties: true } as const;

const Envelope = Type.Object({
  trigger: Type.String({ minLength: 1, maxLength: 100 }),
  data: Type.Optional(Type.Unknown()),
  appId: Type.Optional(Type.String({ maxLength: 255 })),
  region: Type.Optional(Type.String({ maxLength: 64 })),
  webhook: Type.Optional(Type.String({ maxLength: 255 })),
}, open);

// Only what the rules use is constrained: the guid, the owner, and the member uids (the keys).
const GroupData = Type.Object({
  group: Type.Object({ guid: Id, owner: Type.Optional(Id) }, open),
  members: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { maxProperties: MAX_MEMBERS_PER_EVENT })),
}, open);

const checkEnvelope = compileCheck(Envelope);
const checkGroupData = compileCheck(GroupData);

export type CometChatDelivery =
  | { kind: 'ignored'; trigger: string }
  | { kind: 'event'; event: GroupEvent };

/** `rawText`: the body as received (stored with the event); tests that pass a value get its JSON. */
export function parseCometChatDelivery(body: unknown, receivedMs: number, rawText: string = JSON.stringify(body)): CometChatDelivery {
  const envelope = checkEnvelope(body);
  const type = Object.hasOwn(COMETCHAT_GROUP_TRIGGERS, envelope.trigger) ? COMETCHAT_GROUP_TRIGGERS[envelope.trigger] : undefined;
  if (type === undefined) return { kind: 'ignored', trigger: envelope.trigger };

  if (envelope.data === undefined) throw payloadInvalid(`${envelope.trigger} requires "data"`);
  const data = checkGroupData(envelope.data);
  const members = Object.keys(data.members ?? {});
  const badUid = members.find((uid) => !isValidId(uid));
  if (badUid !== undefined) {
    throw payloadInvalid(`data.members keys must be uids of ${ID_RULE}`);
  }
  if (MEMBER_EVENT_TYPES.has(type) && members.length === 0) {
    throw payloadInvalid(`${envelope.trigger} must name at least one member in data.members`);
  }
  if (type === 'group.owner_transferred' && data.group.owner === undefined) {
    throw payloadInvalid('group_owner_transferred requires data.group.owner (the new owner)');
  }

  const ownerMatters = type === 'group.created' || type === 'group.owner_transferred';
  return {
    kind: 'event',
    event: {
      source: 'cometchat',
      key: deliveryKey(envelope.trigger, data.group as Record<string, unknown>, members),
      type,
      occurredAt: inferEventTime(type, data.group as Record<string, unknown>, receivedMs),
      guid: data.group.guid,
      owner: ownerMatters ? data.group.owner ?? null : null,
      members: type === 'group.deleted' || type === 'group.owner_transferred' ? [] : members,
      payload: rawText,
    },
  };
}

function inferEventTime(type: GroupEventType, group: Record<string, unknown>, receivedMs: number): Date {
  const candidates = type === 'group.created' ? [group.createdAt, group.updatedAt] : [group.updatedAt];
  for (const candidate of candidates) {
    const ms = unixTimeToMs(candidate);
    if (isPlausibleEventTime(ms, receivedMs)) return new Date(ms);
  }
  return new Date(receivedMs);
}

/** Numbers only: a field the rules read as a time is never walked when it holds anything else. */
const timeField = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);

function deliveryKey(trigger: string, group: Record<string, unknown>, members: string[]): string {
  return sha256Hex(canonicalJson({
    trigger,
    guid: group.guid,
    owner: typeof group.owner === 'string' ? group.owner : null,
    members: [...members].sort(),
    createdAt: timeField(group.createdAt),
    updatedAt: timeField(group.updatedAt),
  }));
}
