-- Twilio Conversations tenants. Settings without secrets in one jsonb column
-- ({accountSid, apiKeySid, conversationsServiceSid, webhookUrl, accessTokenTtlSeconds}); each
-- secret in its own sealed column (AES-256-GCM envelope, tenant and column bound as AAD).
ALTER TABLE tenants
  ADD COLUMN twilio                       jsonb,
  ADD COLUMN twilio_auth_token            text,   -- sealed; signs Twilio's webhooks
  ADD COLUMN twilio_secondary_auth_token  text,   -- sealed; also accepted while the auth token rotates
  ADD COLUMN twilio_api_key_secret        text;   -- sealed; signs Access Tokens, authenticates REST reads

-- Twilio deliveries are stored like the other formats.
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_source_check;
ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_source_check CHECK (source IN ('cometchat', 'standard', 'twilio'));

-- Drift repair of Twilio tenants: when each tenant's participant lists were last read, and when
-- next. A worker claims a due tenant by moving next_sweep_at forward (FOR UPDATE SKIP LOCKED), so
-- one worker of the fleet sweeps a tenant at a time; a crashed sweep is retried when that time comes.
CREATE TABLE twilio_sweeps (
  tenant_id         text PRIMARY KEY REFERENCES tenants (app_id) ON DELETE CASCADE,
  next_sweep_at     timestamptz NOT NULL DEFAULT now(),
  full_requested    boolean NOT NULL DEFAULT true,     -- read every conversation of the service (an import)
  service_sid       text,                              -- the service the last full sweep read
  started_at        timestamptz,
  finished_at       timestamptz,
  full_finished_at  timestamptz,
  result            jsonb,                             -- counts of the last finished sweep
  last_error        jsonb,                             -- {code, message} of the last failed sweep
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX twilio_sweeps_due_idx ON twilio_sweeps (next_sweep_at);
