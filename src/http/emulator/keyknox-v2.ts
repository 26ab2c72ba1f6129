/**
 * Keyknox v2 routes: push, pull, keys, reset. Fields are optional in the JSON schemas so that a
 * missing `root`/`path`/`key` gets 50020 and missing `identities` gets Virgil's own 50021, rather than
 * a generic schema error.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { callerData, type EmulatorContext } from './context.js';
import { badRequest, ErrorCode } from '../../emulator/errors.js';
import { EMPTY_RECORD_HASH, HASH_HEADER, previousHashOf, validateBlob } from './keyknox-v1.js';
import { listKeys, pullRecord, pushRecord, resetRecords } from '../../emulator/keyknox-v2-service.js';

const Name = Type.String({ maxLength: 1024 });
const MAX_BLOB_LENGTH = 512 * 1024;
const MAX_RECIPIENTS = 1000;

const PushBody = Type.Object({
  root: Type.Optional(Name),
  path: Type.Optional(Name),
  key: Type.Optional(Name),
  identities: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), { maxItems: MAX_RECIPIENTS })),
  meta: Type.String({ maxLength: MAX_BLOB_LENGTH }),
  value: Type.String({ maxLength: MAX_BLOB_LENGTH }),
});
const PullBody = Type.Object({ root: Type.Optional(Name), path: Type.Optional(Name), key: Type.Optional(Name), identity: Type.Optional(Name) });
const KeysBody = Type.Object({ root: Type.Optional(Name), path: Type.Optional(Name), identity: Type.Optional(Name) });
const ResetBody = Type.Object({ root: Type.Optional(Name), path: Type.Optional(Name), key: Type.Optional(Name), identity: Type.Optional(Name) });

function required(value: string | undefined, field: string): string {
  if (value === undefined || value === '') throw badRequest(ErrorCode.KEYKNOX_FIELD_MISSING, `\`${field}\` parameter is not set`);
  return value;
}

/** An empty string names nobody: treat it like an absent field. */
function optional(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

function withHash<T>(reply: FastifyReply, hash: string | undefined, body: T): T {
  reply.header(HASH_HEADER, hash ?? EMPTY_RECORD_HASH);
  return body;
}

export function registerKeyknoxV2Routes(app: FastifyInstance, context: EmulatorContext): void {
  app.post('/keyknox/v2/push', { schema: { body: PushBody } }, async (request, reply) => {
    const { caller, data } = callerData(context, request);
    const body = request.body as Static<typeof PushBody>;
    const root = required(body.root, 'root');
    const path = required(body.path, 'path');
    const key = required(body.key, 'key');
    if (!body.identities || body.identities.length === 0) {
      throw badRequest(ErrorCode.KEYKNOX_IDENTITIES_NOT_SET, '`identities` parameter is not set');
    }
    validateBlob(body.meta, body.value);
    const record = pushRecord(data.keyknoxV2, caller.identity, {
      root, path, key, identities: body.identities, meta: body.meta, value: body.value, previousHash: previousHashOf(request),
    });
    context.store.changed();
    return withHash(reply, record.hash, {
      owner: record.owner, root, path, key, identities: [...record.identities], meta: body.meta, value: body.value,
    });
  });

  app.post('/keyknox/v2/pull', { schema: { body: PullBody } }, async (request, reply) => {
    const { caller, data } = callerData(context, request);
    const body = request.body as Static<typeof PullBody>;
    const scope = { root: required(body.root, 'root'), path: required(body.path, 'path'), key: required(body.key, 'key') };
    const { hash, ...result } = pullRecord(data.keyknoxV2, caller.identity, optional(body.identity) ?? caller.identity, scope);
    return withHash(reply, hash, result);
  });

  app.post('/keyknox/v2/keys', { schema: { body: KeysBody } }, async (request) => {
    const { caller, data } = callerData(context, request);
    const body = request.body as Static<typeof KeysBody>;
    const owner = optional(body.identity) ?? caller.identity;
    return listKeys(data.keyknoxV2, caller.identity, owner, { root: optional(body.root), path: optional(body.path) });
  });

  app.post('/keyknox/v2/reset', { schema: { body: ResetBody } }, async (request, reply) => {
    const { caller, data } = callerData(context, request);
    const body = request.body as Static<typeof ResetBody>;
    const scope = { root: optional(body.root), path: optional(body.path), key: optional(body.key) };
    const hash = resetRecords(data.keyknoxV2, caller.identity, scope, optional(body.identity));
    context.store.changed();
    return withHash(reply, hash, {
      owner: caller.identity, root: scope.root ?? '', path: scope.path ?? '', key: scope.key ?? '', identities: [], meta: '', value: '',
    });
  });
}
