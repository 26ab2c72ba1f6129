/**
 * A local identity provider: serves JSON Web Key Sets at any path (`GET /<name>.json` →
 * `{"keys": [...]}`), counts the fetches of each, and can go down (connections closed). Keys are
 * made and tokens signed with jose, as a provider's SDK would.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';

interface Teardown { teardown(fn: () => unknown): void }

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface SigningKey { kid: string; alg: string; privateKey: PrivateKey; jwk: JWK }

export async function signingKey(kid: string, alg: 'RS256' | 'ES256' | 'EdDSA' = 'RS256'): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A token signed with `key`; `header` adds or overrides protected header fields (jku, x5u, jwk, kid…). */
export async function signToken(key: SigningKey, payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
}

export interface JwksServer {
  url: string;
  /** The keys served at `/<name>.json`. */
  sets: Map<string, SigningKey[]>;
  /** Fetches per set name (also counted while down). */
  hits: Map<string, number>;
  down: boolean;
  /** URL of a set. */
  at(name: string): string;
  close(): Promise<void>;
}

export async function startJwksServer(t: Teardown): Promise<JwksServer> {
  const sets = new Map<string, SigningKey[]>();
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const name = (req.url ?? '').replace(/^\//, '').replace(/\.json(\?.*)?$/, '');
    hits.set(name, (hits.get(name) ?? 0) + 1);
    if (jwks.down) {
      req.socket.destroy();
      return;
    }
    const keys = sets.get(name);
    if (!keys) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const jwks: JwksServer = {
    url, sets, hits, down: false,
    at: (name) => `${url}/${name}.json`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  t.teardown(() => jwks.close());
  return jwks;
}
