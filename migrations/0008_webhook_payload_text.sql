-- Stored deliveries become the text received instead of jsonb: jsonb refuses content that JSON
-- allows (an escaped NUL, a lone UTF-16 surrogate in a display name), and such a field, which the
-- service does not even use, made the whole event fail to apply. Text accepts any valid UTF-8.
ALTER TABLE webhook_events ALTER COLUMN payload TYPE text USING payload::text;
