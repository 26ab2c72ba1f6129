-- Bulk imports of authoritative group snapshots (src/imports): from an NDJSON upload or from
-- CometChat's REST API. An import is applied in batches, each committed together with its
-- checkpoint, so a crash loses nothing and repeats nothing that matters.
CREATE TABLE imports (
  id               text PRIMARY KEY,
  tenant_id        text NOT NULL REFERENCES tenants (app_id) ON DELETE CASCADE,
  source           text NOT NULL CHECK (source IN ('ndjson', 'cometchat')),
  status           text NOT NULL CHECK (status IN ('receiving', 'queued', 'running', 'completed', 'failed')),
  -- NDJSON upload: bytes and complete lines received; the incomplete last line of the parts so far.
  received_bytes   bigint NOT NULL DEFAULT 0,
  received_lines   bigint NOT NULL DEFAULT 0,
  tail             bytea NOT NULL DEFAULT '\x',
  tail_discarding  boolean NOT NULL DEFAULT false,       -- the current line is too long: skipped up to its end
  -- Progress: NDJSON: the last line applied; CometChat: where the reading got to ({page, total}).
  processed        bigint NOT NULL DEFAULT 0,
  cursor           jsonb,
  groups_applied   bigint NOT NULL DEFAULT 0,            -- snapshots applied
  groups_changed   bigint NOT NULL DEFAULT 0,            -- ... that changed a desired state
  groups_created   bigint NOT NULL DEFAULT 0,            -- ... of groups the service did not know
  error_count      bigint NOT NULL DEFAULT 0,
  waiting_for_worker boolean NOT NULL DEFAULT false,     -- paused: the tenant's reconcile backlog is full
  last_error       jsonb,                                -- {code, message}
  retry_at         timestamptz,                          -- after a transient failure: not before
  created_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz
);
CREATE INDEX imports_open_idx ON imports (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX imports_tenant_idx ON imports (tenant_id, created_at);

-- Valid NDJSON lines waiting to be applied (a checked snapshot each); deleted as they are applied.
CREATE TABLE import_lines (
  import_id  text NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
  line       bigint NOT NULL,
  snapshot   jsonb NOT NULL,
  PRIMARY KEY (import_id, line)
);

-- Per-line (NDJSON) or per-group (CometChat) errors; the first ones are kept, all are counted.
CREATE TABLE import_errors (
  id         bigserial PRIMARY KEY,
  import_id  text NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
  line       bigint,
  guid       text,
  code       text NOT NULL,
  message    text NOT NULL
);
CREATE INDEX import_errors_import_idx ON import_errors (import_id, id);

-- The reconcile backlog of one tenant, which imports wait on (backpressure).
CREATE INDEX groups_tenant_unsynced_idx ON groups (tenant_id) WHERE synced_version < desired_version;
