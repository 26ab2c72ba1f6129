-- API processes keep each tenant's pending registrations in memory and reload them when the worker
-- announces new ones: this index serves that load without scanning the tenant's other groups.
CREATE INDEX groups_pending_by_tenant_idx ON groups (tenant_id) WHERE pending_registration <> '{}' AND NOT deleted;
