-- An operator's resync asks the next run to read the group from Virgil itself. Workers otherwise
-- keep the group as their last run of it left it, and reuse it while the membership version shows
-- that nobody changed it since; a change made on Virgil outside the service (the group deleted
-- with the service identity's key, say) is only seen by a run that reads Virgil. Cleared with the
-- request when a run records its outcome.
ALTER TABLE reconcile_outbox ADD COLUMN reload boolean NOT NULL DEFAULT false;
