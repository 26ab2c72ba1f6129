/**
 * Counting the requests this process makes to Virgil, by operation and status, without touching
 * the clients that make them: E3Kit's Cards, Keyknox and Pythia clients (virgil-sdk's fetch
 * ponyfill and axios, both on node:http) are observed through Node's `http.client.*` diagnostics
 * channels, filtered to the Virgil origin; the service's own card publisher reports its calls
 * directly (cards.ts).
 *
 * Operations name Virgil's endpoints (card_search, keyknox_push, ...), never an identity or a card
 * id, so the values stay few.
 */
import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';

/** Told of each finished request: the operation, the HTTP status or "error", the duration in seconds. */
export type VirgilRequestListener = (operation: string, status: string, seconds: number) => void;

/** Virgil's endpoint for a request, as a short name. */
export function virgilOperation(method: string, path: string): string {
  const p = path.split('?')[0].replace(/\/+$/, '');
  if (p === '/card/v5' && method === 'POST') return 'card_publish';
  if (p === '/card/v5/actions/search') return 'card_search';
  if (p.startsWith('/card/v5/actions/revoke/')) return 'card_revoke';
  if (p.startsWith('/card/v5/actions/outdated')) return 'card_outdated';
  if (p.startsWith('/card/v5/')) return 'card_get';
  const keyknoxV2 = /^\/keyknox\/v2\/(pull|push|reset|keys)$/.exec(p);
  if (keyknoxV2) return `keyknox_${keyknoxV2[1]}`;
  if (p.startsWith('/keyknox/v1')) return 'keyknox_v1';
  if (p.startsWith('/pythia/')) return 'pythia';
  return 'other';
}

interface Started { operation: string; startedAt: bigint }

const START = 'http.client.request.start';
const ERROR = 'http.client.request.error';
const FINISH = 'http.client.response.finish';

/**
 * Observes node:http requests to `apiUrl`'s origin until the returned function is called.
 * Requests to any other origin are ignored.
 */
export function observeVirgilRequests(apiUrl: string, listener: VirgilRequestListener): () => void {
  const origin = new URL(apiUrl).origin;
  const started = new WeakMap<ClientRequest, Started>();

  const onStart = (message: unknown) => {
    const { request } = message as { request: ClientRequest };
    const host = request.getHeader('host') ?? request.host;
    if (`${request.protocol}//${String(host)}` !== origin) return;
    started.set(request, { operation: virgilOperation(request.method, request.path), startedAt: process.hrtime.bigint() });
  };
  const finish = (request: ClientRequest, status: string) => {
    const entry = started.get(request);
    if (!entry) return;
    started.delete(request);
    listener(entry.operation, status, Number(process.hrtime.bigint() - entry.startedAt) / 1e9);
  };
  const onFinish = (message: unknown) => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
    finish(request, String(response.statusCode ?? 'error'));
  };
  const onError = (message: unknown) => finish((message as { request: ClientRequest }).request, 'error');

  diagnostics.subscribe(START, onStart);
  diagnostics.subscribe(FINISH, onFinish);
  diagnostics.subscribe(ERROR, onError);
  return () => {
    diagnostics.unsubscribe(START, onStart);
    diagnostics.unsubscribe(FINISH, onFinish);
    diagnostics.unsubscribe(ERROR, onError);
  };
}
