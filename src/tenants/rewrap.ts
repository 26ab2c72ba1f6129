/**
 * Master key rotation: re-seals every tenant secret with the active (first) master key. Rows are
 * locked one at a time, so it can run while the service is serving. Values already sealed with the
 * active key are left alone, so it is safe to re-run after an interruption.
 */
import type { Keyring } from '../crypto/envelope.js';
import type { Db } from '../db/database.js';
import type { SealedField } from './runtime.js';
import { findTenant, listTenantIds, replaceSealedValues } from './tenant-repository.js';
import { TWILIO_SEALED_FIELDS } from './twilio-settings.js';

const SEALED_FIELDS: SealedField[] = ['virgil_app_key', 'identity_secret', 'service_private_key', 'user_auth_key', 'webhook_basic_password', 'webhook_signing_secret',
  'cometchat_rest_api_key', ...TWILIO_SEALED_FIELDS];

export interface RewrapResult { tenants: number; values: number }

export async function rewrapSecrets(db: Db, keyring: Keyring): Promise<RewrapResult> {
  const ids = await listTenantIds(db);
  let values = 0;
  for (const appId of ids) {
    values += await db.transaction().execute(async (trx) => {
      const row = await findTenant(trx, appId, { forUpdate: true });
      if (!row) return 0;
      const patch: Partial<Record<SealedField, string>> = {};
      for (const field of SEALED_FIELDS) {
        const sealed = row[field];
        if (!sealed) continue;
        const rewrapped = keyring.rewrap(sealed, { tenant: appId, field });
        if (rewrapped) patch[field] = rewrapped;
      }
      const n = Object.keys(patch).length;
      if (n > 0) await replaceSealedValues(trx, appId, patch);
      return n;
    });
  }
  return { tenants: ids.length, values };
}
