/**
 * NDJSON import files: one snapshot a line,
 *   {"guid": "hiking", "owner": "alice", "members": ["alice", "bob"], "asOf": "2026-05-01T12:00:00Z"}
 *   {"guid": "old-group", "deleted": true, "asOf": "2026-05-01T12:00:00Z"}
 * split from a byte stream in parts of any size (a line may straddle two parts, even inside a UTF-8
 * character), holding at most one line of MAX_LINE_BYTES in memory. Lines are numbered from 1 as
 * in the file; empty lines are skipped; a line that is not a valid snapshot becomes an error with
 * its number and a stable code, and changes nothing.
 */
import { DomainError } from '../lib/errors.js';
import { checkSnapshot, type GroupSnapshot } from '../groups/snapshot.js';

/** A line longer than this (a snapshot of 10,000 long uids fits) is refused, not buffered. */
export const MAX_LINE_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;

/** Where the splitting of an upload got to, kept between parts (imports.tail, tail_discarding, received_lines). */
export interface SplitterState {
  /** Bytes of the line begun but not yet ended. */
  tail: Buffer;
  /** The current line already exceeded MAX_LINE_BYTES: its bytes are dropped until its end. */
  discarding: boolean;
  /** Complete lines seen so far (the next line's number is this plus one). */
  lines: number;
}

export type SplitLine = { line: number; text: string } | { line: number; tooLong: true };

export class LineSplitter {
  #tail: Buffer[];
  #tailBytes: number;
  #discarding: boolean;
  #lines: number;

  constructor(state: SplitterState, private readonly maxLineBytes = MAX_LINE_BYTES) {
    this.#tail = state.tail.length > 0 ? [state.tail] : [];
    this.#tailBytes = state.tail.length;
    this.#discarding = state.discarding;
    this.#lines = state.lines;
  }

  /** The complete lines `chunk` ends. */
  *push(chunk: Buffer): Generator<SplitLine> {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end === -1) {
        this.#keep(chunk.subarray(start));
        return;
      }
      this.#keep(chunk.subarray(start, end));
      yield this.#endLine();
      start = end + 1;
    }
  }

  /** The last line of a file that does not end with a newline. */
  *finish(): Generator<SplitLine> {
    if (this.#tailBytes > 0 || this.#discarding) yield this.#endLine();
  }

  get state(): SplitterState {
    return { tail: Buffer.concat(this.#tail), discarding: this.#discarding, lines: this.#lines };
  }

  #keep(bytes: Buffer): void {
    if (this.#discarding || bytes.length === 0) return;
    if (this.#tailBytes + bytes.length > this.maxLineBytes) {
      this.#discarding = true;
      this.#tail = [];
      this.#tailBytes = 0;
      return;
    }
    // Copied: the chunk's buffer may be reused by the stream.
    this.#tail.push(Buffer.from(bytes));
    this.#tailBytes += bytes.length;
  }

  #endLine(): SplitLine {
    const line = ++this.#lines;
    if (this.#discarding) {
      this.#discarding = false;
      return { line, tooLong: true };
    }
    const text = Buffer.concat(this.#tail, this.#tailBytes).toString('utf8');
    this.#tail = [];
    this.#tailBytes = 0;
    return { line, text };
  }
}

export interface LineError { line: number; guid: string | null; code: string; message: string }

const FIELDS = new Set(['guid', 'owner', 'members', 'asOf', 'deleted']);

/**
 * One line as a snapshot, null for an empty line, or the reason it is refused. Codes:
 * IMPORT_LINE_TOO_LONG, IMPORT_LINE_NOT_JSON, IMPORT_LINE_INVALID (shape: not an object, unknown
 * fields, wrong types), and the snapshot rules' SNAPSHOT_* codes.
 */
export function parseLine(split: SplitLine, now: number): GroupSnapshot | LineError | null {
  const { line } = split;
  if ('tooLong' in split) return { line, guid: null, code: 'IMPORT_LINE_TOO_LONG', message: `the line is longer than ${MAX_LINE_BYTES} bytes` };
  const text = split.text.endsWith('\r') ? split.text.slice(0, -1) : split.text;
  if (text.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { line, guid: null, code: 'IMPORT_LINE_NOT_JSON', message: 'the line is not JSON' };
  }
  const invalid = (message: string, guid: string | null = null): LineError => ({ line, guid, code: 'IMPORT_LINE_INVALID', message });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalid('the line is not a JSON object');
  const o = value as Record<string, unknown>;
  const guid = typeof o.guid === 'string' ? o.guid.slice(0, 255) : null;
  const unknown = Object.keys(o).find((k) => !FIELDS.has(k));
  if (unknown !== undefined) return invalid(`unknown field "${unknown.slice(0, 64)}"`, guid);
  if (o.deleted !== undefined && typeof o.deleted !== 'boolean') return invalid('deleted must be true or false', guid);
  if (o.deleted === true && (o.members !== undefined || o.owner !== undefined)) return invalid('a deletion names no owner or members', guid);
  if (o.deleted !== true && !Array.isArray(o.members)) return invalid('members must be an array of uids (or "deleted": true)', guid);
  if (o.owner !== undefined && o.owner !== null && typeof o.owner !== 'string') return invalid('owner must be a uid or null', guid);
  try {
    return checkSnapshot({ guid: o.guid, asOf: o.asOf, deleted: o.deleted === true, owner: o.owner, members: o.members }, now);
  } catch (err) {
    if (err instanceof DomainError) return { line, guid, code: err.code, message: err.message };
    throw err;
  }
}

export function isLineError(value: GroupSnapshot | LineError): value is LineError {
  return 'code' in value;
}

/** A snapshot as stored while it waits (import_lines.snapshot), and back. */
export function storedSnapshot(s: GroupSnapshot): Record<string, unknown> {
  return s.deleted ? { guid: s.guid, asOf: s.asOf.toISOString(), deleted: true } : { guid: s.guid, asOf: s.asOf.toISOString(), owner: s.owner, members: s.members };
}

export function snapshotFromStored(o: Record<string, unknown>): GroupSnapshot {
  const asOf = new Date(o.asOf as string);
  return o.deleted === true
    ? { guid: o.guid as string, asOf, deleted: true }
    : { guid: o.guid as string, asOf, owner: (o.owner as string | null) ?? null, members: o.members as string[] };
}
