-- Desired group membership (from webhooks) and the worker's view of each Virgil group.
CREATE TABLE groups (
  tenant_id             text NOT NULL REFERENCES tenants (app_id) ON DELETE CASCADE,
  guid                  text NOT NULL,
  identity              text NOT NULL,                 -- Virgil group id given to E3Kit clients
  owner_uid             text,                          -- platform owner (kept as a participant)
  deleted               boolean NOT NULL DEFAULT false,
  lifecycle_at          timestamptz NOT NULL,          -- event time of the last create/delete decision
  status                text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('synced', 'pending', 'failed', 'over_capacity', 'deleted')),
  virgil_exists         boolean NOT NULL DEFAULT false,
  virgil_members        text[] NOT NULL DEFAULT '{}',  -- uids that are participants on Virgil now
  pending_registration  text[] NOT NULL DEFAULT '{}',  -- desired uids without a Virgil card yet
  last_error            jsonb,                         -- {code, message}
  desired_version       bigint NOT NULL DEFAULT 1,     -- bumped by every change of desired state
  synced_version        bigint NOT NULL DEFAULT 0,     -- desired_version the worker last reconciled
  attempts              integer NOT NULL DEFAULT 0,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, guid)
);
CREATE INDEX groups_pending_registration_idx ON groups USING gin (pending_registration);
CREATE INDEX groups_unsynced_idx ON groups (updated_at) WHERE synced_version < desired_version;

CREATE TABLE group_members (
  tenant_id   text NOT NULL,
  guid        text NOT NULL,
  uid         text NOT NULL,
  is_member   boolean NOT NULL,
  changed_at  timestamptz NOT NULL,                    -- event time of the decision (last writer wins)
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, guid, uid),
  FOREIGN KEY (tenant_id, guid) REFERENCES groups (tenant_id, guid) ON DELETE CASCADE
);

-- Every accepted webhook, durable before the 2xx; the unique key makes redelivery harmless.
CREATE TABLE webhook_events (
  id           bigserial PRIMARY KEY,
  tenant_id    text NOT NULL REFERENCES tenants (app_id) ON DELETE CASCADE,
  source       text NOT NULL CHECK (source IN ('cometchat', 'standard')),
  event_key    text NOT NULL,
  type         text NOT NULL,
  occurred_at  timestamptz NOT NULL,
  payload      jsonb NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, source, event_key)
);

-- Transactional outbox: a row is written in the same transaction as the desired-state change, so
-- a reconcile request survives a crash between the commit and the queue. A sweeper re-enqueues rows.
CREATE TABLE reconcile_outbox (
  tenant_id     text NOT NULL,
  guid          text NOT NULL,
  requested_at  timestamptz NOT NULL DEFAULT now(),
  enqueued_at   timestamptz,
  PRIMARY KEY (tenant_id, guid),
  FOREIGN KEY (tenant_id, guid) REFERENCES groups (tenant_id, guid) ON DELETE CASCADE
);
