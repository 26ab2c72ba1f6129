/**
 * Pythia BrainKey: `POST /pythia/v1/brainkey {"blinded_password", "brainkey_id"?}` → `{"seed"}`
 * (the transform itself is src/emulator/pythia.ts).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { badRequest, decodeBase64, ErrorCode } from '../../emulator/errors.js';
import { BLINDED_PASSWORD_LENGTH, PythiaTransformer } from '../../emulator/pythia.js';
import { callerOf, type EmulatorContext } from './context.js';

const BrainKeyBody = Type.Object({
  blinded_password: Type.String({ maxLength: 1024 }),
  brainkey_id: Type.Optional(Type.String({ maxLength: 1024 })),
});

export function registerPythiaRoutes(app: FastifyInstance, context: EmulatorContext): void {
  app.post('/pythia/v1/brainkey', { schema: { body: BrainKeyBody } }, async (request) => {
    const caller = callerOf(request);
    const body = request.body as Static<typeof BrainKeyBody>;
    const blinded = decodeBase64(body.blinded_password, 'blinded_password');
    // Checked here because the WASM library prints to stderr on malformed input.
    if (blinded.length !== BLINDED_PASSWORD_LENGTH) {
      throw badRequest(ErrorCode.PYTHIA_BLINDED_PASSWORD_INVALID, `\`blinded_password\` must be ${BLINDED_PASSWORD_LENGTH} bytes.`);
    }
    const tweak = PythiaTransformer.tweak(caller.appId, caller.identity, body.brainkey_id);
    return { seed: context.pythia.transform(blinded, tweak).toString('base64') };
  });
}
