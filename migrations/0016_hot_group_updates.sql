-- Every accepted webhook updates its group's row (desired_version, updated_at, the registers). An
-- update that changes no indexed column (including columns of index predicates) is HOT: it writes
-- no index entry at all, when the page has room. Two things kept the intake's updates from that:
-- the sweeper's index on updated_at, whose predicate also reads both versions.
--
-- The sweeper now finds groups behind their desired state by `unsynced_since` (set by a trigger
-- when a group falls behind, cleared when it catches up), which the intake writes only when a
-- synced group falls behind. So a change to a group already waiting for the worker writes no
-- index entry, and the GIN index of pending registrations is not touched either.
DROP INDEX groups_unsynced_idx;
CREATE INDEX groups_unsynced_since_all_idx ON groups (unsynced_since) WHERE unsynced_since IS NOT NULL;

-- Room on each page for the next version of its rows (HOT needs the new version on the same page).
-- Applies to pages written from now on; existing pages gain room as their rows move.
ALTER TABLE groups SET (fillfactor = 70);
