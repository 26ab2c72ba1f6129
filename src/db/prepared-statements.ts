/**
 * Named prepared statements for the hottest statements (the webhook intake's): PostgreSQL parses
 * and plans a statement sent unnamed on every execution, which for the intake's statements cost
 * about as much server CPU as running them. A statement marked with `prepared()` is sent as a
 * named statement instead; node-postgres parses it once per connection, and PostgreSQL then
 * reuses the plan (its plan cache chooses between custom and generic plans).
 *
 * Only statements whose text does not depend on the data may be marked (arrays or JSON carry the
 * rows, not one placeholder per value), or every batch size would be a statement of its own: the
 * number of names per process is capped, and texts past the cap run unnamed.
 */
import { sql, type RawBuilder } from 'kysely';
import pg from 'pg';
import { sha256Hex } from '../lib/sha256.js';

const MARK = '/* prepared */';
const MAX_NAMES = 256;
const names = new Map<string, string>();

/** The statement, marked to run as a named prepared statement on connections of our pools. */
export function prepared<T>(statement: RawBuilder<T>): RawBuilder<T> {
  return sql<T>`${sql.raw(MARK)} ${statement}`;
}

function nameOf(text: string): string | undefined {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMES) {
    name = `e2ee_${sha256Hex(text).slice(0, 24)}`;
    names.set(text, name);
  }
  return name;
}

/** A node-postgres client that runs marked statements as named prepared statements. */
export class PreparingClient extends pg.Client {
  // node-postgres' query() has many overloads; a marked statement always comes as (text, values).
  override query(...args: unknown[]): never {
    const [text, values, callback] = args;
    const name = typeof text === 'string' && text.startsWith(MARK) && Array.isArray(values) ? nameOf(text) : undefined;
    const call = super.query as (...a: unknown[]) => never;
    return name === undefined ? call.apply(this, args) : call.call(this, { name, text, values }, callback);
  }
}
