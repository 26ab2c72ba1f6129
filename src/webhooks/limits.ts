/**
 * Bounds of the webhook intake. Both formats share them so that a platform switching format
 * meets the same limits.
 */

/** Members named by one event (CometChat `members` keys, or the neutral `members` list). */
export const MAX_MEMBERS_PER_EVENT = 1000;

/**
 * Webhook bodies may list up to 1,000 members; a CometChat member object with name, avatar URL
 * and status is a few hundred bytes, so 1 MiB leaves room without being unbounded.
 */
export const WEBHOOK_BODY_LIMIT_BYTES = 1024 * 1024;

/** Standard Webhooks: `webhook-timestamp` may be this far from our clock, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

/**
 * Event times must fall in [EARLIEST_EVENT_TIME, now + FUTURE_EVENT_TOLERANCE_MS]. A far-future
 * event time would pin a member's decision forever under last-writer-wins, so it is refused
 * (neutral format) or replaced by the receive time (CometChat, whose times we only infer).
 */
export const EARLIEST_EVENT_TIME = Date.UTC(2000, 0, 1);
export const FUTURE_EVENT_TOLERANCE_MS = 5 * 60 * 1000;

/** At most this many entries in `webhook-signature` (rotation lists are short). */
export const MAX_SIGNATURES = 20;
