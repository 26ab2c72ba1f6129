/**
 * Limits of Virgil Cloud that our code must respect and the emulator reproduces (the README lists
 * each with its source). One home, so the worker's batching and the emulator's refusal agree.
 */

/**
 * A Keyknox push (v1 or v2) whose `meta` is longer than this many characters is refused with
 * HTTP 400 and code 50005 (virgil-e3kit-js issue #160: "Adding more than 30 participants to a group
 * triggers 50005 10kb meta param limit error").
 */
export const KEYKNOX_META_LIMIT = 10_240;
export const KEYKNOX_META_TOO_LARGE_CODE = 50005;
