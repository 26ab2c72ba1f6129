/**
 * Receiving an NDJSON import: the body of `POST …/imports` (the first part) and of
 * `POST …/imports/{id}/parts?offset=<bytes>` (the next ones) is read as a stream, split into lines
 * (ndjson.ts), each line checked; valid snapshots are spooled to `import_lines`, refused lines to
 * `import_errors` with their number. Memory holds one line and one batch, whatever the file's size.
 *
 * A part is one transaction: either all of it is received (bytes, lines, the incomplete last line
 * carried to the next part) or none of it, so an upload cut off anywhere resumes from the server's
 * `receivedBytes` and no line is lost or counted twice. Parts may end anywhere, even inside a line.
 * The part marked `complete` ends the file; the import is then queued for the runner (runner.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { conflict, DomainError, notFound, tooLarge } from '../lib/errors.js';
import {
  findImport, insertImport, insertImportErrors, insertImportLines, recordUploadPart, type ImportError, type ImportRecord,
} from './import-repository.js';
import { isLineError, LineSplitter, parseLine, storedSnapshot, type SplitLine } from './ndjson.js';

/** Lines spooled (or errors stored) per statement. */
const SPOOL_BATCH = 500;

export const newImportId = () => `imp_${randomBytes(12).toString('hex')}`;

export interface UploadPart {
  tenantId: string;
  /** Continuation of this import; absent for the first part (a new import). */
  importId?: string;
  /** Continuation: the byte offset this part starts at (must equal what was received). */
  offset?: number;
  /** This part ends the file. */
  complete: boolean;
  body: AsyncIterable<Buffer | string>;
  /** Largest part accepted. */
  maxBytes: number;
  now?: () => number;
}

async function spool(trx: Transaction<Database>, id: string, body: AsyncIterable<Buffer | string>, state: ImportRecord, part: UploadPart) {
  const now = part.now ?? Date.now;
  const splitter = new LineSplitter({ tail: state.tail, discarding: state.tailDiscarding, lines: state.receivedLines });
  let bytes = 0;
  let errorsCounted = state.errorCount;
  let newErrors = 0;
  let lines: Array<{ line: number; snapshot: Record<string, unknown> }> = [];
  let errors: ImportError[] = [];
  const flush = async () => {
    await insertImportLines(trx, id, lines);
    await insertImportErrors(trx, id, errors, errorsCounted);
    errorsCounted += errors.length;
    lines = [];
    errors = [];
  };
  const take = async (split: SplitLine) => {
    const parsed = parseLine(split, now());
    if (parsed === null) return;
    if (isLineError(parsed)) {
      errors.push(parsed);
      newErrors++;
    } else {
      lines.push({ line: split.line, snapshot: storedSnapshot(parsed) });
    }
    if (lines.length >= SPOOL_BATCH || errors.length >= SPOOL_BATCH) await flush();
  };
  for await (const raw of body) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    bytes += chunk.length;
    if (bytes > part.maxBytes) throw tooLarge('IMPORT_PART_TOO_LARGE', `an import part may hold at most ${part.maxBytes} bytes; send the file in parts`, { maxBytes: part.maxBytes });
    for (const split of splitter.push(chunk)) await take(split);
  }
  if (part.complete) for (const split of splitter.finish()) await take(split);
  await flush();
  const after = splitter.state;
  return { bytes, newErrors, splitter: after };
}

/** Receives one part (see the top of the file); returns the import as it stands after it. */
export async function receiveNdjsonPart(db: Db, part: UploadPart): Promise<ImportRecord> {
  const id = await db.transaction().execute(async (trx) => {
    let state: ImportRecord;
    let id: string;
    if (part.importId === undefined) {
      id = newImportId();
      await insertImport(trx, { id, tenantId: part.tenantId, source: 'ndjson', status: 'receiving' });
      state = (await findImport(trx, id))!;
    } else {
      id = part.importId;
      const found = await findImport(trx, id, { forUpdate: true });
      if (!found || found.tenantId !== part.tenantId || found.source !== 'ndjson') throw notFound('IMPORT_NOT_FOUND', `Import ${id} does not exist for tenant ${part.tenantId}`);
      if (found.status !== 'receiving') throw conflict('IMPORT_UPLOAD_COMPLETE', `Import ${id} has received its whole file`);
      if (part.offset !== found.receivedBytes) {
        throw new DomainError('conflict', 'IMPORT_OFFSET_MISMATCH', `Import ${id} has received ${found.receivedBytes} bytes; send the part that starts there`, {
          receivedBytes: found.receivedBytes,
        });
      }
      state = found;
    }
    const { bytes, newErrors, splitter } = await spool(trx, id, part.body, state, part);
    await recordUploadPart(trx, id, {
      receivedBytes: state.receivedBytes + bytes,
      receivedLines: splitter.lines,
      tail: part.complete ? Buffer.alloc(0) : splitter.tail,
      tailDiscarding: part.complete ? false : splitter.discarding,
      errors: newErrors,
      status: part.complete ? 'queued' : 'receiving',
    });
    return id;
  });
  return (await findImport(db, id))!;
}
