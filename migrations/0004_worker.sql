-- A group whose reconcile gave up after its retries (a transient failure: Virgil or the network
-- unavailable for long) is retried by the outbox sweeper once this time has passed. NULL for every
-- other group, including permanent failures, which wait for a new desired state or a resync.
ALTER TABLE groups ADD COLUMN retry_at timestamptz;
CREATE INDEX groups_retry_idx ON groups (retry_at) WHERE retry_at IS NOT NULL;
