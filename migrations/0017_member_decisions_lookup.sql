-- The member decisions a recording transaction reads, looked up by (tenant, group, uid). The
-- intake runs its statements as prepared statements, and a prepared statement's plan is kept for
-- the connection: a plan made while group_members was small scans the whole table, and keeps doing
-- so as the table grows (until statistics are refreshed). In a PL/pgSQL function the plan is made
-- with these settings, which leave one way to run it: a nested loop of primary-key lookups,
-- whatever the table's size when it was planned. STABLE: it reads with the caller's snapshot.
CREATE FUNCTION member_decisions(tenant_ids text[], guids text[], uids text[])
  RETURNS TABLE (tenant_id text, guid text, uid text, is_member boolean, changed_at timestamptz)
  LANGUAGE plpgsql STABLE
  SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
    SELECT m.tenant_id, m.guid, m.uid, m.is_member, m.changed_at
      FROM unnest(tenant_ids, guids, uids) AS k(tenant_id, guid, uid)
      JOIN group_members m ON m.tenant_id = k.tenant_id AND m.guid = k.guid AND m.uid = k.uid;
END $$;
