/**
 * Keyset pagination of the admin listings: `?limit=1..100` (default 50) and `?cursor=` from the
 * previous page's `nextCursor` (null on the last page). Query strings are text and the app never
 * coerces, so the limit is matched as digits and converted here.
 */
import { Type, type TSchema } from '@sinclair/typebox';

export const DEFAULT_PAGE_SIZE = 50;

export const LimitParam = Type.String({ pattern: '^(?:[1-9]|[1-9][0-9]|100)$', description: 'Page size, 1 to 100 (default 50)' });

/** Cursor of the listings ordered by a numeric id (newest first). */
export const IdCursorParam = Type.String({ pattern: '^[1-9][0-9]{0,17}$', description: 'nextCursor of the previous page' });

export function pageLimit(raw: string | undefined): number {
  return raw === undefined ? DEFAULT_PAGE_SIZE : Number(raw);
}

/** `{"data": {"items": [...], "nextCursor"}}`. */
export function PageEnvelope<T extends TSchema>(item: T) {
  return Type.Object({ data: Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) }) });
}
