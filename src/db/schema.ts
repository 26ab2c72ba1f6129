/**
 * Kysely table types, written by hand to match migrations/*.sql (the SQL is the source of truth).
 */
import type { ColumnType, Generated, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type TimestampRequired = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string | T, string | T>;

/** Caller tokens signed with a key configured here (rows written before `type` existed lack it). */
export interface JwtUserAuthSettings {
  type?: 'jwt';
  algorithm: 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';
  issuer?: string;
  audience?: string;
  uidClaim: string;
  clockToleranceSeconds: number;
  /** Longest accepted caller-token lifetime; rows written before it existed lack it (the default applies). */
  maxTokenLifetimeSeconds?: number;
}

export type JwksAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';
export type JwksPreset = 'firebase' | 'auth0' | 'clerk' | 'supabase' | 'cognito';

/** Caller tokens from an identity provider that publishes its keys as a JWKS (src/auth/jwks-verifier.ts). */
export interface JwksUserAuthSettings {
  type: 'jwks';
  preset?: JwksPreset;
  jwksUrl: string;
  issuer: string;
  audience?: string;
  algorithms: JwksAlgorithm[];
  uidClaim: string;
  clockToleranceSeconds: number;
  maxTokenLifetimeSeconds: number;
  /** Clerk: allowed `azp` values (origins). */
  authorizedParties?: string[];
  /** Cognito: required `token_use`. */
  tokenUse?: 'id' | 'access';
  /** Cognito access tokens: required `client_id`. */
  clientId?: string;
}

/** Callers send CometChat's `authtoken` header, checked with the tenant's CometChat REST key. */
export interface CometChatUserAuthSettings {
  type: 'cometchat';
  /** How long a verified token is trusted without asking CometChat again. */
  verifiedCacheSeconds: number;
  /** How long a refused token is refused without asking again (shorter). */
  refusedCacheSeconds: number;
}

export type UserAuthSettings = JwtUserAuthSettings | JwksUserAuthSettings | CometChatUserAuthSettings;

/** A tenant's CometChat REST access, without the key (sealed in its own column). */
export interface CometChatSettings {
  appId: string;
  region: 'us' | 'eu' | 'in';
  requestsPerMinute: number;
  /** null: no periodic drift repair. */
  driftRepairIntervalSeconds: number | null;
  /** Drift repair also deletes live groups CometChat does not know (absent: settings stored before it existed, off). */
  driftRepairDeletions?: boolean;
}

export interface RateLimitSettings { tenantPerMinute?: number; userPerMinute?: number }

/** A tenant's Twilio Conversations settings without their secrets (migrations/0011_twilio.sql). */
export interface TwilioSettings {
  accountSid: string;
  apiKeySid: string;
  conversationsServiceSid: string;
  /** The exact public URL Twilio calls: its signatures cover it. */
  webhookUrl: string;
  accessTokenTtlSeconds: number;
  /** The drift sweep deletes live groups whose conversation Twilio answers 404 for (absent: stored before it existed, off). */
  deleteMissingConversations?: boolean;
}

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
  /** migrations/0012_cometchat.sql */
  cometchat: ColumnType<CometChatSettings | null, string | CometChatSettings | null | undefined, string | CometChatSettings | null>;
  cometchat_rest_api_key: ColumnType<string | null, string | null | undefined, string | null>;
  config_version: ColumnType<number, number | undefined, number>;
  created_at: Timestamp;
  updated_at: Timestamp;
  disabled_at: Date | null;
  twilio: ColumnType<TwilioSettings | null, string | null | undefined, string | null>;
  twilio_auth_token: ColumnType<string | null, string | null | undefined, string | null>;
  twilio_secondary_auth_token: ColumnType<string | null, string | null | undefined, string | null>;
  twilio_api_key_secret: ColumnType<string | null, string | null | undefined, string | null>;
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
  /** When the desired state first got ahead of the synced one; kept by a trigger (migrations/0010_operations.sql). */
  unsynced_since: ColumnType<Date | null, never, never>;
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
  source: 'cometchat' | 'standard' | 'twilio';
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

/** Counts of a finished Twilio sweep. */
export interface TwilioSweepResult {
  full: boolean;
  conversations: number;
  changed: number;
  /** Known conversations Twilio answered 404 for: reported, never deleted by a sweep. */
  missing: number;
  /** Participants with an identity our id rule refuses (not members of any group). */
  skippedIdentities: number;
}

export interface TwilioSweepsTable {
  tenant_id: string;
  next_sweep_at: Timestamp;
  full_requested: ColumnType<boolean, boolean | undefined, boolean>;
  service_sid: string | null;
  started_at: Date | null;
  finished_at: Date | null;
  full_finished_at: Date | null;
  result: Json<TwilioSweepResult> | null;
  last_error: Json<GroupError> | null;
  updated_at: Timestamp;
}

/** The audit trail (migrations/0010_operations.sql): never a secret in `details`. */
export interface AuditLogTable {
  id: Generated<string>;
  occurred_at: Timestamp;
  actor: string;
  action: string;
  tenant_id: string | null;
  guid: string | null;
  details: Json<Record<string, unknown>>;
}

/** One row per webhook delivery to a known tenant (migrations/0010_operations.sql). */
export interface WebhookDeliveriesTable {
  id: Generated<string>;
  tenant_id: string;
  format: string;
  trigger: string | null;
  result: string;
  status_code: number;
  event_id: string | null;
  received_at: TimestampRequired;
}

export interface CometChatDriftStateTable {
  tenant_id: string;
  cursor: ColumnType<string | null, number | string | null | undefined, number | string | null>;
  next_run_at: Timestamp;
  last_run_at: Date | null;
  last_error: Json<GroupError> | null;
  groups_read: ColumnType<string, number | string | undefined, number | string>;
  groups_changed: ColumnType<string, number | string | undefined, number | string>;
}

export type ImportStatus = 'receiving' | 'queued' | 'running' | 'completed' | 'failed';
export type ImportSource = 'ndjson' | 'cometchat';

export interface ImportsTable {
  id: string;
  tenant_id: string;
  source: ImportSource;
  status: ImportStatus;
  received_bytes: ColumnType<string, number | string | undefined, number | string>;
  received_lines: ColumnType<string, number | string | undefined, number | string>;
  tail: ColumnType<Buffer, Buffer | undefined, Buffer>;
  tail_discarding: ColumnType<boolean, boolean | undefined, boolean>;
  processed: ColumnType<string, number | string | undefined, number | string>;
  cursor: Json<Record<string, unknown>> | null;
  groups_applied: ColumnType<string, number | string | undefined, number | string>;
  groups_changed: ColumnType<string, number | string | undefined, number | string>;
  groups_created: ColumnType<string, number | string | undefined, number | string>;
  error_count: ColumnType<string, number | string | undefined, number | string>;
  waiting_for_worker: ColumnType<boolean, boolean | undefined, boolean>;
  last_error: Json<GroupError> | null;
  retry_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: Timestamp;
  started_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  updated_at: Timestamp;
  completed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface ImportLinesTable {
  import_id: string;
  line: ColumnType<string, number | string, number | string>;
  snapshot: Json<Record<string, unknown>>;
}

export interface ImportErrorsTable {
  id: Generated<string>;
  import_id: string;
  line: ColumnType<string | null, number | string | null | undefined, number | string | null>;
  guid: string | null;
  code: string;
  message: string;
}

export interface Database {
  tenants: TenantsTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  webhook_events: WebhookEventsTable;
  reconcile_outbox: ReconcileOutboxTable;
  twilio_sweeps: TwilioSweepsTable;
  audit_log: AuditLogTable;
  webhook_deliveries: WebhookDeliveriesTable;
  cometchat_drift_state: CometChatDriftStateTable;
  imports: ImportsTable;
  import_lines: ImportLinesTable;
  import_errors: ImportErrorsTable;
}

export type TenantRow = Selectable<TenantsTable>;
export type TenantUpdate = Updateable<TenantsTable>;
