/**
 * The id rules, one home for each, used by caller tokens, extension bodies, webhooks and admin paths.
 *
 * uids and guids: 1-255 characters of Unicode text with no control characters, no invisible format
 * characters (zero-width joiners, bidi marks...), no spaces or other separators, and no lone
 * surrogates. CometChat's ids are letters, digits, `_` and `-`; other platforms use emails, Matrix
 * ids (`@alice:example.org`), URNs or names in any script (`josé`, `李雷`), all of which fit. What is
 * refused invites look-alike ids, trimming bugs or broken logs, and no platform needs it. Ids are
 * opaque: compared as given, never normalised, so a platform must spell a user the same way
 * everywhere (as it does: it is its own key). Because one rule serves every entry point, a uid that
 * a webhook makes a member is always a uid whose caller token is accepted, with the same identity.
 *
 * Tenant app ids: 1-64 of `A-Z a-z 0-9 _ . -`, starting with a letter or digit (they appear in URL
 * paths and headers).
 */

export const ID_MAX_LENGTH = 255;
/** `u` flag required: the pattern counts code points and names Unicode categories. */
export const ID_PATTERN = /^[^\p{Cc}\p{Cf}\p{Cs}\p{Z}]{1,255}$/u;
/** Describes ID_PATTERN in error messages. */
export const ID_RULE = '1-255 characters without spaces, control or invisible format characters';

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 2 * ID_MAX_LENGTH && ID_PATTERN.test(value);
}

export const APP_ID_MAX_LENGTH = 64;
export const APP_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function isValidAppId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= APP_ID_MAX_LENGTH && APP_ID_PATTERN.test(value);
}
