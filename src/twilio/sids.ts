/**
 * Twilio resource ids (SIDs): a two-letter prefix naming the resource type and 32 hex digits. The
 * prefixes the service meets: AC accounts, SK API keys, IS Conversations services, CH
 * conversations, MB participants.
 */

export type SidPrefix = 'AC' | 'SK' | 'IS' | 'CH' | 'MB';

const SID_BODY = '[0-9a-fA-F]{32}';

/** The pattern source of a SID with `prefix` (for JSON schemas). */
export function sidPatternSource(prefix: SidPrefix): string {
  return `^${prefix}${SID_BODY}$`;
}

const PATTERNS = new Map<SidPrefix, RegExp>((['AC', 'SK', 'IS', 'CH', 'MB'] as const).map((p) => [p, new RegExp(sidPatternSource(p))]));

export function isSid(value: unknown, prefix: SidPrefix): value is string {
  return typeof value === 'string' && PATTERNS.get(prefix)!.test(value);
}

/** Conversations are the groups of a Twilio tenant: their SID is the guid. */
export const isConversationSid = (value: unknown): value is string => isSid(value, 'CH');
