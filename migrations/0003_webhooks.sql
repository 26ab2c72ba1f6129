-- Owner decisions are ordered by event time like every other desired-state decision
-- (last writer wins): the time of the decision that set groups.owner_uid.
ALTER TABLE groups ADD COLUMN owner_at timestamptz;
