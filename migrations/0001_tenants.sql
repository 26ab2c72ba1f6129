-- Tenants (chat apps) and their credentials. Every secret column holds a sealed value
-- (AES-256-GCM envelope "ev1.<keyId>.<nonce>.<ciphertext>", tenant and column bound as AAD).
CREATE TABLE tenants (
  app_id                  text PRIMARY KEY,
  status                  text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  virgil_app_id           text NOT NULL,
  virgil_app_key_id       text NOT NULL,
  virgil_app_key          text NOT NULL,            -- sealed APP_KEY (base64 PKCS#8)
  identity_secret         text NOT NULL,            -- sealed; never changes once created
  service_identity        text NOT NULL,            -- the Virgil identity that owns every group
  service_private_key     text NOT NULL,            -- sealed base64 PKCS#8
  service_public_key      text NOT NULL,            -- base64 SPKI (public)
  service_card_id         text,                     -- set once the card is published on Virgil
  user_auth               jsonb NOT NULL,           -- {algorithm, issuer?, audience?, uidClaim, clockToleranceSeconds}
  user_auth_key           text NOT NULL,            -- sealed HS secret or public key (PEM)
  webhook_basic_username  text,
  webhook_basic_password  text,                     -- sealed
  webhook_signing_secret  text,                     -- sealed whsec_ value
  jwt_ttl_seconds         integer NOT NULL DEFAULT 1200 CHECK (jwt_ttl_seconds BETWEEN 60 AND 86400),
  rate_limits             jsonb,                    -- per-tenant overrides of the global limits
  config_version          integer NOT NULL DEFAULT 1,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  disabled_at             timestamptz
);
