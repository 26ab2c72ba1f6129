-- The audit trail is pruned after AUDIT_RETENTION_DAYS, oldest first, in short batches.
CREATE INDEX audit_log_occurred_idx ON audit_log (occurred_at);
