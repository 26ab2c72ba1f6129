-- groups.virgil_exists was written by every reconcile run and read by nothing: each run asks
-- Virgil whether the group exists, which is the only answer that counts.
ALTER TABLE groups DROP COLUMN virgil_exists;
