/**
 * The one internal shape every intake format is normalised into. Type names are those of the
 * platform-neutral format; CometChat triggers and Twilio Conversations events map onto them.
 */

export const GROUP_EVENT_TYPES = [
  'group.created',
  'group.deleted',
  'group.member_added',
  'group.member_joined',
  'group.member_left',
  'group.member_kicked',
  'group.member_banned',
  'group.member_unbanned',
  'group.member_scope_changed',
  'group.owner_transferred',
] as const;

export type GroupEventType = (typeof GROUP_EVENT_TYPES)[number];

/** Types whose `members` list must name at least one member: the `group.member_*` ones. */
export const MEMBER_EVENT_TYPES: ReadonlySet<GroupEventType> = new Set(GROUP_EVENT_TYPES.filter((type) => type.startsWith('group.member_')));

export type WebhookSource = 'cometchat' | 'standard' | 'twilio';

export interface GroupEvent {
  source: WebhookSource;
  /** Deduplication key: the `webhook-id` header, or a content hash for CometChat and Twilio (no event ids). */
  key: string;
  type: GroupEventType;
  /** When the change happened on the platform (millisecond precision); orders the decisions. */
  occurredAt: Date;
  guid: string;
  /** group.created: the initial owner; group.owner_transferred: the new owner; otherwise null. */
  owner: string | null;
  /** The members the event is about, without duplicates, in the order received. */
  members: string[];
  /** The delivery as received (UTF-8 text), kept with the event for audit. */
  payload: string;
}
