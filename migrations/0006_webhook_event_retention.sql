-- The worker deletes webhook_events received before the retention window (oldest first).
CREATE INDEX webhook_events_received_at_idx ON webhook_events (received_at);
