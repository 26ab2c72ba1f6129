/**
 * Statements marked with prepared() run as named prepared statements on the pool's connections
 * (parsed once per connection, planned through PostgreSQL's plan cache) and answer exactly as the
 * unnamed form; unmarked statements stay unnamed.
 */
import t from 'tap';
import { sql } from 'kysely';
import { prepared } from '../../src/db/prepared-statements.js';
import { createTestDatabase } from '../helpers/db.js';

const { handle } = await createTestDatabase(t);
const { db } = handle;

t.test('a marked statement is prepared once per connection and answers as the unnamed one', async (t) => {
  const statement = (values: number[]) => sql<{ n: number; total: string }>`
    SELECT count(*)::int AS n, coalesce(sum(v), 0)::text AS total FROM unnest(${sql.val(values)}::int[]) AS v`;
  await db.connection().execute(async (conn) => {
    const named = async () => (await sql<{ name: string; statement: string }>`
      SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'e2ee\\_%'`.execute(conn)).rows;
    t.same(await named(), [], 'nothing prepared on a fresh connection');
    for (const values of [[1, 2, 3], [], [40, 2]]) {
      const { rows: [byName] } = await prepared(statement(values)).execute(conn);
      const { rows: [unnamed] } = await statement(values).execute(conn);
      t.same(byName, unnamed, `same answer for [${values.join(', ')}]`);
    }
    const after = await named();
    t.equal(after.length, 1, 'one text, one prepared statement, whatever the values');
    t.match(after[0]?.statement, /^\/\* prepared \*\/ /, 'the marked text');
  });
});

t.test('a marked statement with an error fails like an unnamed one, and the connection goes on', async (t) => {
  await db.connection().execute(async (conn) => {
    await t.rejects(prepared(sql`SELECT 1 / ${sql.val(0)}::int`).execute(conn), /division by zero/);
    const { rows } = await prepared(sql<{ v: number }>`SELECT ${sql.val(7)}::int AS v`).execute(conn);
    t.same(rows, [{ v: 7 }]);
  });
});
