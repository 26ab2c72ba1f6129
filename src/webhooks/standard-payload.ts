/**
 * The platform-neutral event format (body of `POST /v1/webhooks/{appId}`):
 *
 *   {"type": "group.member_added", "occurredAt": "<RFC 3339>",
 *    "group": {"guid": "...", "owner"?: "<uid>"}, "members"?: ["<uid>", ...]}
 *
 * Unknown fields are refused (a misspelt "member" must not be silently ignored). `members` is
 * required and non-empty for group.member_* types and refused for group.deleted and
 * group.owner_transferred; `group.owner` is required for group.owner_transferred (the new owner),
 * optional for group.created (the initial owner) and informational elsewhere.
 */
import { Type } from '@sinclair/typebox';
import { invalid, unprocessable } from '../lib/errors.js';
import { parseRfc3339, isPlausibleEventTime, RFC3339_PATTERN_SOURCE } from './event-time.js';
import { GROUP_EVENT_TYPES, MEMBER_EVENT_TYPES, type GroupEvent, type GroupEventType } from '../groups/group-event.js';
import { MAX_MEMBERS_PER_EVENT } from './limits.js';
import { compileCheck, Id, payloadInvalid } from './schema-check.js';

export const StandardEventBody = Type.Object({
  type: Type.Union(GROUP_EVENT_TYPES.map((t) => Type.Literal(t))),
  occurredAt: Type.String({ maxLength: 64, pattern: RFC3339_PATTERN_SOURCE }),
  group: Type.Object({ guid: Id, owner: Type.Optional(Id) }, { additionalProperties: false }),
  members: Type.Optional(Type.Array(Id, { maxItems: MAX_MEMBERS_PER_EVENT })),
}, { additionalProperties: false });

const checkBody = compileCheck(StandardEventBody);
const KNOWN_TYPES: ReadonlySet<string> = new Set(GROUP_EVENT_TYPES);

/** `rawText`: the body as received (stored with the event); tests that pass a value get its JSON. */
export function parseStandardEvent(body: unknown, webhookId: string, nowMs: number, rawText: string = JSON.stringify(body)): GroupEvent {
  const type = (body as { type?: unknown } | null)?.type;
  if (typeof type === 'string' && !KNOWN_TYPES.has(type)) {
    throw invalid('WEBHOOK_TYPE_UNSUPPORTED', `Unsupported event type "${type.slice(0, 100)}"`, { supported: [...GROUP_EVENT_TYPES] });
  }
  const event = checkBody(body);
  const eventType = event.type as GroupEventType;
  const members = [...new Set(event.members ?? [])];

  if (MEMBER_EVENT_TYPES.has(eventType) && members.length === 0) {
    throw payloadInvalid(`${eventType} must name at least one member in "members"`);
  }
  if ((eventType === 'group.deleted' || eventType === 'group.owner_transferred') && members.length > 0) {
    throw payloadInvalid(`${eventType} does not take "members"`);
  }
  if (eventType === 'group.owner_transferred' && event.group.owner === undefined) {
    throw payloadInvalid('group.owner_transferred requires "group.owner" (the new owner)');
  }

  const occurredMs = parseRfc3339(event.occurredAt);
  if (!isPlausibleEventTime(occurredMs, nowMs)) {
    throw unprocessable('WEBHOOK_OCCURRED_AT_INVALID', 'occurredAt must be a valid date-time between 2000-01-01 and five minutes from now');
  }

  const ownerMatters = eventType === 'group.created' || eventType === 'group.owner_transferred';
  return {
    source: 'standard',
    key: webhookId,
    type: eventType,
    occurredAt: new Date(occurredMs),
    guid: event.group.guid,
    owner: ownerMatters ? event.group.owner ?? null : null,
    members,
    payload: rawText,
  };
}
