-- What clients and operators need to see of the worker's changes to a Virgil group.
--   membership_version: +1 every time the worker changes the Virgil group (create, add, remove,
--     revoke, re-add, delete). Clients compare it with the version they last called
--     `group.update()` at, so a sender never keeps encrypting with an epoch a removed member holds.
--   key_changes / last_readd_at: members re-added after they changed their key (group.reAdd).
ALTER TABLE groups
  ADD COLUMN membership_version bigint NOT NULL DEFAULT 0,
  ADD COLUMN key_changes integer NOT NULL DEFAULT 0,
  ADD COLUMN last_readd_at timestamptz;

-- The Virgil card a member was last given the group's tickets for (added or re-added). A newer
-- card of that identity means the member changed their key: the tickets must be re-added for it.
-- NULL: not given any yet, or given before this column existed.
ALTER TABLE group_members ADD COLUMN card_id text;

-- The key-change check looks up, by user, the groups where they hold tickets.
CREATE INDEX group_members_uid_idx ON group_members (tenant_id, uid) WHERE card_id IS NOT NULL;
