/**
 * Keyknox v1: one encrypted blob per (app, identity), used by e3kit's key backup without a key name.
 *
 * Previous-hash rule: once a record holds data, a push must name its current hash in
 * `Virgil-Keyknox-Previous-Hash` (else 50010); an absent or reset record accepts any push.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { callerData, type EmulatorContext } from './context.js';
import { badRequest, decodeBase64, ErrorCode } from '../../emulator/errors.js';
import { newKeyknoxHash, type KeyknoxV1Record } from '../../emulator/model.js';
import { KEYKNOX_META_LIMIT } from '../../virgil/cloud-limits.js';

export const HASH_HEADER = 'Virgil-Keyknox-Hash';
export const PREVIOUS_HASH_HEADER = 'virgil-keyknox-previous-hash';
/** Hash reported for a record that was never written (any push is accepted then). */
export const EMPTY_RECORD_HASH = Buffer.alloc(32).toString('base64');

const MAX_BLOB_LENGTH = 512 * 1024;

const PushBody = Type.Object({
  meta: Type.String({ maxLength: MAX_BLOB_LENGTH }),
  value: Type.String({ maxLength: MAX_BLOB_LENGTH }),
});

interface V1Response {
  meta: string;
  value: string;
  version: string;
}

function respond(reply: FastifyReply, record: KeyknoxV1Record | undefined): V1Response {
  reply.header(HASH_HEADER, record?.hash ?? EMPTY_RECORD_HASH);
  return { meta: record?.meta ?? '', value: record?.value ?? '', version: `${record?.version ?? 1}.0` };
}

/**
 * The client treats "both empty" as no data and rejects exactly one empty field; so must we. Like
 * Virgil Cloud, a `meta` over 10 KB is refused (the recipient list of a group ticket lives there).
 */
export function validateBlob(meta: string, value: string): void {
  if ((meta === '') !== (value === '')) {
    throw badRequest(ErrorCode.KEYKNOX_VALUE_INVALID, '`meta` and `value` must both be empty or both be set.');
  }
  if (meta.length > KEYKNOX_META_LIMIT) {
    throw badRequest(ErrorCode.KEYKNOX_META_TOO_LARGE, `\`meta\` is ${meta.length} characters; the limit is 10kb (${KEYKNOX_META_LIMIT}).`);
  }
  decodeBase64(meta, 'meta', { allowEmpty: true });
  decodeBase64(value, 'value', { allowEmpty: true });
}

export function previousHashOf(request: FastifyRequest): string | undefined {
  const header = request.headers[PREVIOUS_HASH_HEADER];
  return Array.isArray(header) ? header[0] : header;
}

export function registerKeyknoxV1Routes(app: FastifyInstance, context: EmulatorContext): void {
  app.get('/keyknox/v1', async (request, reply) => {
    const { caller, data } = callerData(context, request);
    return respond(reply, data.keyknoxV1.get(caller.identity));
  });

  app.put('/keyknox/v1', { schema: { body: PushBody } }, async (request, reply) => {
    const { caller, data } = callerData(context, request);
    const { meta, value } = request.body as Static<typeof PushBody>;
    validateBlob(meta, value);
    const current = data.keyknoxV1.get(caller.identity);
    const holdsData = current !== undefined && (current.meta !== '' || current.value !== '');
    if (holdsData && previousHashOf(request) !== current.hash) {
      throw badRequest(ErrorCode.KEYKNOX_INVALID_PREVIOUS_HASH, '`Virgil-Keyknox-Previous-Hash` header is invalid.');
    }
    const record: KeyknoxV1Record = { meta, value, version: current ? current.version + 1 : 1, hash: newKeyknoxHash() };
    data.keyknoxV1.set(caller.identity, record);
    context.store.changed();
    return respond(reply, record);
  });

  app.post('/keyknox/v1/reset', async (request, reply) => {
    const { caller, data } = callerData(context, request);
    const current = data.keyknoxV1.get(caller.identity);
    const record: KeyknoxV1Record = { meta: '', value: '', version: current ? current.version + 1 : 1, hash: newKeyknoxHash() };
    data.keyknoxV1.set(caller.identity, record);
    context.store.changed();
    return respond(reply, record);
  });
}
