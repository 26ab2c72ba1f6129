/**
 * Keyknox v2 semantics (virgil-protocol.md §4.3): records (owner, root, path, key) shared with
 * identities, each recipient holding its own copy.
 *
 * Per-recipient copies are what make e3kit groups work: `Group.add` re-pushes every epoch for the new
 * members only, with a value encrypted for the owner and those members; existing members must keep
 * reading their older copy afterwards.
 */
import { badRequest, ErrorCode } from './errors.js';
import { keyknoxV2FolderKey, newKeyknoxHash, type KeyknoxBlob, type KeyknoxV2Record } from './model.js';

export type KeyknoxV2Records = Map<string, Map<string, KeyknoxV2Record>>;

export interface PushInput extends KeyknoxBlob {
  root: string;
  path: string;
  key: string;
  identities: string[];
  previousHash: string | undefined;
}

export interface PullResult extends KeyknoxBlob {
  owner: string;
  root: string;
  path: string;
  key: string;
  identities: string[];
  hash: string | undefined;
}

export interface Scope {
  root?: string;
  path?: string;
  key?: string;
}

/** The caller is always the owner: nobody can write into another identity's namespace. */
export function pushRecord(records: KeyknoxV2Records, owner: string, input: PushInput): KeyknoxV2Record {
  const folderKey = keyknoxV2FolderKey(owner, input.root, input.path);
  const folder = records.get(folderKey) ?? new Map<string, KeyknoxV2Record>();
  const existing = folder.get(input.key);
  if (existing && existing.hash !== input.previousHash) {
    throw badRequest(ErrorCode.KEYKNOX_INVALID_PREVIOUS_HASH, '`Virgil-Keyknox-Previous-Hash` header is invalid.');
  }
  const blob: KeyknoxBlob = { meta: input.meta, value: input.value };
  const record: KeyknoxV2Record = existing ?? {
    owner,
    root: input.root,
    path: input.path,
    key: input.key,
    identities: [],
    copies: new Map(),
    lastPushed: blob,
    hash: '',
  };
  for (const identity of input.identities) {
    if (!record.copies.has(identity)) record.identities.push(identity); // e3kit sends duplicates
    record.copies.set(identity, blob);
  }
  record.lastPushed = blob;
  record.hash = newKeyknoxHash();
  folder.set(input.key, record);
  records.set(folderKey, folder);
  return record;
}

/**
 * The caller's own copy with the full recipient list. A missing record or a caller without a copy
 * gets an empty value (200), which e3kit's named backup relies on before its first push and which
 * does not reveal that someone else's record exists.
 */
export function pullRecord(records: KeyknoxV2Records, caller: string, owner: string, scope: Required<Scope>): PullResult {
  const record = records.get(keyknoxV2FolderKey(owner, scope.root, scope.path))?.get(scope.key);
  const copy = record?.copies.get(caller) ?? (record && caller === owner ? record.lastPushed : undefined);
  if (!record || !copy) {
    return { owner, ...scope, identities: [], meta: '', value: '', hash: undefined };
  }
  return { owner, ...scope, identities: [...record.identities], meta: copy.meta, value: copy.value, hash: record.hash };
}

/** Keys of the owner's records the caller may read; `[]` rather than an error when there are none. */
export function listKeys(records: KeyknoxV2Records, caller: string, owner: string, scope: Scope): string[] {
  const keys = new Set<string>();
  for (const record of matchingRecords(records, owner, scope)) {
    if (caller === owner || record.copies.has(caller)) keys.add(record.key);
  }
  return [...keys];
}

/**
 * Without a recipient (or with the caller itself): deletes the caller's matching records. With another
 * recipient: removes only that recipient's copy and keeps the hash, because e3kit's `reAdd` pushes
 * with the hash it pulled before the reset. Matching nothing is a success.
 * Returns the record hash when exactly one record matched and still exists.
 */
export function resetRecords(records: KeyknoxV2Records, caller: string, scope: Scope, recipient: string | undefined): string | undefined {
  const matched = [...matchingRecords(records, caller, scope)];
  const removeWholeRecords = recipient === undefined || recipient === caller;
  for (const record of matched) {
    if (!removeWholeRecords) {
      record.copies.delete(recipient);
      record.identities = record.identities.filter((identity) => identity !== recipient);
      if (record.copies.size > 0) continue;
    }
    deleteRecord(records, record);
  }
  const [only] = matched;
  return matched.length === 1 && !removeWholeRecords && only.copies.size > 0 ? only.hash : undefined;
}

function deleteRecord(records: KeyknoxV2Records, record: KeyknoxV2Record): void {
  const folderKey = keyknoxV2FolderKey(record.owner, record.root, record.path);
  const folder = records.get(folderKey);
  folder?.delete(record.key);
  if (folder?.size === 0) records.delete(folderKey);
}

/** Records of `owner`; an absent root/path/key matches any value. */
function* matchingRecords(records: KeyknoxV2Records, owner: string, scope: Scope): Generator<KeyknoxV2Record> {
  const folders =
    scope.root !== undefined && scope.path !== undefined
      ? [records.get(keyknoxV2FolderKey(owner, scope.root, scope.path))]
      : [...records.values()];
  for (const folder of folders) {
    if (!folder) continue;
    for (const record of [...folder.values()]) {
      if (record.owner !== owner) continue;
      if (scope.root !== undefined && record.root !== scope.root) continue;
      if (scope.path !== undefined && record.path !== scope.path) continue;
      if (scope.key !== undefined && record.key !== scope.key) continue;
      yield record;
    }
  }
}
