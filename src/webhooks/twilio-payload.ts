/**
 * Twilio Conversations post-action webhooks, form-encoded (after their signature was checked):
 *
 *   onConversationAdded   → group.created (no owner, no members: participants arrive on their own)
 *   onConversationRemoved → group.deleted
 *   onParticipantAdded    → group.member_added [Identity]
 *   onParticipantRemoved  → group.member_left [Identity] when the participant removed themselves
 *                           from an SDK (Source=SDK, ClientIdentity=Identity), group.member_kicked
 *                           otherwise (the same decision: not a member)
 *
 * The conversation SID is the guid, the participant's `Identity` the uid. Every other event
 * (pre-action ones included), participants without an identity (SMS, WhatsApp: they cannot hold
 * E3Kit keys) and events of another Conversations service of the account are acknowledged and
 * ignored. Unknown parameters are accepted (Twilio adds some over time; the signature covers them).
 *
 * Event time. Additions happen at `DateCreated`. A removal happens at the later of `DateUpdated`
 * (else `DateCreated`) and the moment we receive it: `DateUpdated` is the participant's or the
 * conversation's last change, which can be long before the removal itself, and an older time would
 * let a drift sweep's earlier reading of the participant list outweigh the removal. Twilio's
 * retries come within seconds, so the receive time is at most that late. Implausible dates (before
 * 2000, or more than five minutes ahead of our clock) are replaced by the receive time.
 *
 * Deduplication. Form webhooks carry no event id; the key is SHA-256 of what identifies the event:
 * its type, account, conversation, participant, identity and dates (a participant SID is added and
 * removed once; a re-added user is a new participant). A retried delivery is a harmless duplicate.
 */
import { sha256Hex } from '../lib/sha256.js';
import { canonicalJson } from './canonical-json.js';
import { isPlausibleEventTime, parseRfc3339 } from './event-time.js';
import type { GroupEvent, GroupEventType } from '../groups/group-event.js';
import { ID_RULE, isValidId } from '../lib/ids.js';
import { isConversationSid } from '../twilio/sids.js';
import type { FormParams } from '../twilio/request-signature.js';
import { payloadInvalid } from './schema-check.js';

export type TwilioIgnoredReason = 'event_not_used' | 'no_identity' | 'other_service';

export type TwilioDelivery =
  | { kind: 'ignored'; trigger: string; reason: TwilioIgnoredReason }
  | { kind: 'event'; event: GroupEvent };

const CONVERSATION_EVENTS: Readonly<Record<string, GroupEventType>> = {
  onConversationAdded: 'group.created',
  onConversationRemoved: 'group.deleted',
};
const PARTICIPANT_EVENTS = new Set(['onParticipantAdded', 'onParticipantRemoved']);
const REMOVALS = new Set(['onConversationRemoved', 'onParticipantRemoved']);

/** The one value of a parameter; a parameter the rules use must not be sent twice. */
function single(params: FormParams, name: string): string | undefined {
  const values = params[name];
  if (values === undefined) return undefined;
  if (values.length !== 1) throw payloadInvalid(`${name} must be sent once`);
  return values[0];
}

/** Twilio writes ISO 8601 dates (RFC 3339); anything else reads as absent. */
function dateMs(value: string | undefined): number {
  return value === undefined ? Number.NaN : parseRfc3339(value);
}

export function parseTwilioDelivery(params: FormParams, opts: { serviceSid: string; receivedMs: number }, rawText: string): TwilioDelivery {
  const trigger = single(params, 'EventType');
  if (!trigger) throw payloadInvalid('EventType is required');
  const conversationType = Object.hasOwn(CONVERSATION_EVENTS, trigger) ? CONVERSATION_EVENTS[trigger] : undefined;
  if (conversationType === undefined && !PARTICIPANT_EVENTS.has(trigger)) return { kind: 'ignored', trigger: trigger.slice(0, 100), reason: 'event_not_used' };

  const service = single(params, 'ChatServiceSid');
  if (service !== undefined && service !== opts.serviceSid) return { kind: 'ignored', trigger, reason: 'other_service' };
  const guid = single(params, 'ConversationSid');
  if (!isConversationSid(guid)) throw payloadInvalid('ConversationSid must be a conversation SID (CH and 32 hex digits)');

  let type = conversationType;
  const identity = single(params, 'Identity');
  if (type === undefined) {
    if (!identity) return { kind: 'ignored', trigger, reason: 'no_identity' };
    if (!isValidId(identity)) throw payloadInvalid(`Identity must be a uid of ${ID_RULE}`);
    const selfRemoved = single(params, 'Source') === 'SDK' && single(params, 'ClientIdentity') === identity;
    type = trigger === 'onParticipantAdded' ? 'group.member_added' : selfRemoved ? 'group.member_left' : 'group.member_kicked';
  }

  const created = single(params, 'DateCreated');
  const updated = single(params, 'DateUpdated');
  const dated = REMOVALS.has(trigger) ? dateMs(updated ?? created) : dateMs(created);
  let occurredMs = REMOVALS.has(trigger) && !(dated > opts.receivedMs) ? opts.receivedMs : dated;
  if (!isPlausibleEventTime(occurredMs, opts.receivedMs)) occurredMs = opts.receivedMs;

  const key = sha256Hex(canonicalJson({
    trigger,
    account: single(params, 'AccountSid') ?? null,
    conversation: guid,
    participant: single(params, 'ParticipantSid') ?? null,
    identity: identity ?? null,
    created: created ?? null,
    updated: updated ?? null,
  }));
  return {
    kind: 'event',
    event: { source: 'twilio', key, type, occurredAt: new Date(occurredMs), guid, owner: null, members: conversationType ? [] : [identity!], payload: rawText },
  };
}
