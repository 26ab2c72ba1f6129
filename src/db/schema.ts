/**
 * Kysely table types, written by hand to match migrations/*.sql (the SQL is the source of truth).
 */
import type { ColumnType, Generated, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type TimestampRequired = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string | T, string | T>;

export interface UserAuthSettings {
  algorithm: 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';
  issuer?: string;
  audience?: string;
  uidClaim: string;
  clockToleranceSeconds: number;
  /** Longest accepted caller-token lifetime; rows written before it existed lack it (the default applies). */
  maxTokenLifetimeSeconds?: number;
}

export interface RateLimitSettings { tenantPerMinute?: number; userPerMinute?: number }

export interface TenantsTable {
  app_id: string;
  status: ColumnType<'active' | 'disabled', 'active' | 'disabled' | undefined, 'active' | 'disabled'>;
  virgil_app_id: string;
  virgil_app_key_id: string;
  virgil_app_key: string;
  identity_secret: string;
  service_identity: string;
  service_private_key: string;
  service_public_key: string;
  service_card_id: string | null;
  user_auth: Json<UserAuthSettings>;
  user_auth_key: string;
  webhook_basic_username: string | null;
  webhook_basic_password: string | null;
  webhook_signing_secret: string | null;
  jwt_ttl_seconds: ColumnType<number, number | undefined, number>;
  rate_limits: Json<RateLimitSettings> | null;
  config_version: ColumnType<number, number | undefined, number>;
  created_at: Timestamp;
  updated_at: Timestamp;
  disabled_at: Date | null;
}

export type GroupStatus = 'synced' | 'pending' | 'failed' | 'over_capacity' | 'deleted';
export interface GroupError { code: string; message: string }

export interface GroupsTable {
  tenant_id: string;
  guid: string;
  identity: string;
  owner_uid: string | null;
  /** Event time of the decision that set owner_uid (migrations/0003_webhooks.sql). */
  owner_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  deleted: ColumnType<boolean, boolean | undefined, boolean>;
  lifecycle_at: TimestampRequired;
  status: ColumnType<GroupStatus, GroupStatus | undefined, GroupStatus>;
  virgil_members: ColumnType<string[], string[] | undefined, string[]>;
  pending_registration: ColumnType<string[], string[] | undefined, string[]>;
  last_error: Json<GroupError> | null;
  desired_version: ColumnType<string, number | string | undefined, number | string>;
  synced_version: ColumnType<string, number | string | undefined, number | string>;
  attempts: ColumnType<number, number | undefined, number>;
  /** When the sweeper retries a group whose retries ran out (migrations/0004_worker.sql). */
  retry_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** +1 for every change the worker makes to the Virgil group (migrations/0009_membership_versions.sql). */
  membership_version: ColumnType<string, number | string | undefined, number | string>;
  key_changes: ColumnType<number, number | undefined, number>;
  last_readd_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface GroupMembersTable {
  tenant_id: string;
  guid: string;
  uid: string;
  is_member: boolean;
  changed_at: TimestampRequired;
  updated_at: Timestamp;
  /** The Virgil card the member holds the group's tickets for (migrations/0009_membership_versions.sql). */
  card_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface WebhookEventsTable {
  id: Generated<string>;
  tenant_id: string;
  source: 'cometchat' | 'standard';
  event_key: string;
  type: string;
  occurred_at: TimestampRequired;
  /** The delivery as received: text, which PostgreSQL accepts for any content (jsonb refuses some). */
  payload: string;
  received_at: Timestamp;
}

export interface ReconcileOutboxTable {
  tenant_id: string;
  guid: string;
  requested_at: Timestamp;
  enqueued_at: Date | null;
  /** The next run reads the group from Virgil, whatever a worker kept (an operator's resync). */
  reload: Generated<boolean>;
}

export interface Database {
  tenants: TenantsTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  webhook_events: WebhookEventsTable;
  reconcile_outbox: ReconcileOutboxTable;
}

export type TenantRow = Selectable<TenantsTable>;
export type TenantUpdate = Updateable<TenantsTable>;
