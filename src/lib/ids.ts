/**
 * What a uid or guid may look like on the extension API: 1-255 visible ASCII characters (0x21-0x7E).
 *
 * CometChat uids and guids are letters, digits, `_` and `-`; other platforms use emails, Matrix ids
 * (`@alice:example.org`) or URNs, all of which fit. Spaces, control characters and non-ASCII are
 * refused: they invite look-alike ids and trimming bugs, and no platform we serve needs them. The
 * same rule applies to the uid taken from a caller token, so a uid always maps to the same identity
 * whichever endpoint it came through.
 */
export const CALLER_ID_MAX_LENGTH = 255;
export const CALLER_ID_PATTERN_SOURCE = '^[\\x21-\\x7e]{1,255}$';
const CALLER_ID_PATTERN = new RegExp(CALLER_ID_PATTERN_SOURCE);

export function isValidCallerId(value: unknown): value is string {
  return typeof value === 'string' && CALLER_ID_PATTERN.test(value);
}
