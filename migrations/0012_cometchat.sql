-- A tenant's CometChat REST access (imports, drift repair, auth-token checks): settings without
-- secrets, and the REST API key sealed like every other secret (field "cometchat_rest_api_key").
ALTER TABLE tenants ADD COLUMN cometchat jsonb;              -- {appId, region, requestsPerMinute, driftRepairIntervalSeconds}
ALTER TABLE tenants ADD COLUMN cometchat_rest_api_key text;  -- sealed

-- Periodic drift repair, per tenant: where the last sweep got to (CometChat's group updatedAt, unix
-- seconds) and when the next one is due. A sweep claims its tenant by moving next_run_at forward.
CREATE TABLE cometchat_drift_state (
  tenant_id       text PRIMARY KEY REFERENCES tenants (app_id) ON DELETE CASCADE,
  cursor          bigint,                 -- updatedAt (unix s) already read up to; NULL: from the start
  next_run_at     timestamptz NOT NULL DEFAULT now(),
  last_run_at     timestamptz,
  last_error      jsonb,                  -- {code, message} of the last failed sweep, NULL after a good one
  groups_read     bigint NOT NULL DEFAULT 0,
  groups_changed  bigint NOT NULL DEFAULT 0
);
