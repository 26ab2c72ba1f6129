-- Every accepted webhook updates its group's row, and such an update is never HOT (updated_at and
-- the versions are indexed or in index predicates), so it pays for every index on `groups` and for
-- every row trigger. Two of those costs bought nothing:

-- The trigger keeping `unsynced_since` ran its function for every write of the versions, although
-- the column changes only when a group falls behind or catches up: a WHEN condition (evaluated
-- without calling the function) lets the usual case, another change to a group already behind,
-- skip it.
DROP TRIGGER groups_track_unsynced ON groups;
CREATE TRIGGER groups_track_unsynced
  BEFORE INSERT OR UPDATE OF synced_version, desired_version ON groups
  FOR EACH ROW
  WHEN ((NEW.synced_version >= NEW.desired_version) = (NEW.unsynced_since IS NOT NULL))
  EXECUTE FUNCTION groups_track_unsynced();

-- A tenant's groups behind their desired state were indexed twice: by this index and by
-- groups_unsynced_since_idx (tenant_id, unsynced_since) WHERE unsynced_since IS NOT NULL, which
-- the trigger keeps to the same rows. The import backlog count reads the latter now.
DROP INDEX groups_tenant_unsynced_idx;
