-- What operators read: the audit trail, the log of webhook deliveries, and what the admin listings
-- filter and sort on.

-- Admin actions (onboard, rotate, disable, resync, import…) and the worker's changes on Virgil
-- (group created, members added or removed, keys re-added…). Never a secret: `details` holds only
-- names of changed fields, uids, key ids and codes, chosen by the code that writes the entry.
CREATE TABLE audit_log (
  id           bigserial PRIMARY KEY,
  occurred_at  timestamptz NOT NULL DEFAULT now(),
  actor        text NOT NULL,                  -- 'admin:<token fingerprint>' or 'worker:<host>/<pid>'
  action       text NOT NULL,                  -- e.g. tenant.onboarded, group.member_removed
  tenant_id    text,
  guid         text,
  details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, id) WHERE tenant_id IS NOT NULL;
CREATE INDEX audit_log_action_idx ON audit_log (action, id);

-- One row per webhook delivery to a known tenant, whatever its result (accepted, duplicate,
-- ignored, refused…): what an operator needs to see whether a platform's webhooks arrive. Never the
-- payload or a credential. Kept WEBHOOK_DELIVERY_RETENTION_HOURS, pruned by the worker.
CREATE TABLE webhook_deliveries (
  id           bigserial PRIMARY KEY,
  tenant_id    text NOT NULL REFERENCES tenants (app_id) ON DELETE CASCADE,
  format       text NOT NULL,                  -- cometchat, standard… (the route it came in on)
  trigger      text,                           -- the platform's trigger or event type, when parsed
  result       text NOT NULL,                  -- accepted, duplicate, ignored, unauthorized, invalid…
  status_code  smallint NOT NULL,
  event_id     text,                           -- webhook-id, or CometChat's content key
  received_at  timestamptz NOT NULL
);
CREATE INDEX webhook_deliveries_tenant_idx ON webhook_deliveries (tenant_id, id);
CREATE INDEX webhook_deliveries_tenant_time_idx ON webhook_deliveries (tenant_id, received_at);
CREATE INDEX webhook_deliveries_received_at_idx ON webhook_deliveries (received_at);

-- A tenant's groups filtered by status, in guid order (keyset pages), and counted per status.
CREATE INDEX groups_tenant_status_idx ON groups (tenant_id, status, guid);

-- When the group's desired state first got ahead of what the worker reconciled: the age of the
-- oldest change still waiting. Kept by a trigger, so every writer of the versions keeps it right.
ALTER TABLE groups ADD COLUMN unsynced_since timestamptz;
UPDATE groups SET unsynced_since = updated_at WHERE synced_version < desired_version;

CREATE FUNCTION groups_track_unsynced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.synced_version >= NEW.desired_version THEN
    NEW.unsynced_since := NULL;
  ELSIF NEW.unsynced_since IS NULL THEN
    NEW.unsynced_since := now();
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER groups_track_unsynced
  BEFORE INSERT OR UPDATE OF synced_version, desired_version ON groups
  FOR EACH ROW EXECUTE FUNCTION groups_track_unsynced();

CREATE INDEX groups_unsynced_since_idx ON groups (tenant_id, unsynced_since) WHERE unsynced_since IS NOT NULL;
