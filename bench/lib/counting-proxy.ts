/**
 * A loopback HTTP proxy in front of the Virgil emulator that counts calls by operation, so the
 * worker bench can report Virgil calls per group change (the emulator itself counts nothing).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Virgil operations by method and path (the paths E3Kit and virgil-sdk call). */
function operationOf(method: string, url: string): string {
  const path = url.replace(/^\/+/, '/').split('?')[0]!;
  if (path === '/card/v5/actions/search') return 'cards.search';
  if (path === '/card/v5' && method === 'POST') return 'cards.publish';
  if (path.startsWith('/card/v5/')) return `cards.${method.toLowerCase()}`;
  const keyknox = /^\/keyknox\/(v1|v2)(?:\/(push|pull|keys|reset))?/.exec(path);
  if (keyknox) return `keyknox.${keyknox[1]}.${keyknox[2] ?? method.toLowerCase()}`;
  return `other ${method} ${path}`;
}

export interface CountingProxy {
  url: string;
  counts: Map<string, number>;
  /** Total calls since the last reset (or start). */
  total(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const op = operationOf(req.method ?? 'GET', req.url ?? '/');
    counts.set(op, (counts.get(op) ?? 0) + 1);
    const forward = http.request({
      host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers,
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => { res.writeHead(502).end(); });
    req.pipe(forward);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    reset: () => counts.clear(),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
