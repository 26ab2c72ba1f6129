/**
 * The naive baseline: how Virgil's sample backends serve Virgil JWTs (demo-twilio-backend-nodejs
 * rewritten for Express 5 and virgil-crypto 5). Exactly:
 * - the caller presents `Authorization: Bearer <token>`; the sample's check is a lookup of that
 *   token in an in-memory Map (token → identity), pre-filled here with the benchmark's caller tokens
 *   (a lookup is cheaper than verifying a JWT, so this favours the baseline);
 * - a virgil-sdk JwtGenerator (VirgilAccessTokenSigner over virgil-crypto's WASM) built once at
 *   start signs `generateToken(identity)` per request, identity = the caller's uid;
 * - the answer is `res.json({ virgilToken })`, as in the sample.
 *
 * Env: CALLERS_FILE (JSON {tokens, uids}), VIRGIL_APP_ID, VIRGIL_APP_KEY_ID, VIRGIL_APP_KEY.
 */
import { readFileSync } from 'node:fs';
import express from 'express';
import { initCrypto, VirgilAccessTokenSigner, VirgilCrypto } from 'virgil-crypto';
import { JwtGenerator } from 'virgil-sdk';
import { reportReady, reportStartFailure } from '../lib/child-server.js';

try {
  await initCrypto();
  const crypto = new VirgilCrypto();
  const generator = new JwtGenerator({
    appId: process.env.VIRGIL_APP_ID!,
    apiKeyId: process.env.VIRGIL_APP_KEY_ID!,
    apiKey: crypto.importPrivateKey(process.env.VIRGIL_APP_KEY!),
    accessTokenSigner: new VirgilAccessTokenSigner(crypto),
  });
  const { tokens, uids } = JSON.parse(readFileSync(process.env.CALLERS_FILE!, 'utf8')) as { tokens: string[]; uids: string[] };
  const sessions = new Map<string, string>(tokens.map((token, i) => [token, uids[i]]));

  const app = express();
  app.get('/v1/virgil-jwt', (req, res) => {
    const header = req.get('authorization');
    const identity = header?.startsWith('Bearer ') ? sessions.get(header.slice(7)) : undefined;
    if (!identity) {
      res.status(401).send('Unauthorized');
      return;
    }
    res.json({ virgilToken: generator.generateToken(identity).toString() });
  });
  const server = app.listen(0, '127.0.0.1', () => reportReady((server.address() as { port: number }).port));
  server.keepAliveTimeout = 60_000;
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
} catch (err) {
  reportStartFailure(err);
}
