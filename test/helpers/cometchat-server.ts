/**
 * A local HTTP server speaking the documented shapes of CometChat's REST API v3, standing in for
 * `https://{appId}.api-{region}.cometchat.io/v3` (the service's COMETCHAT_API_URL points at
 * `<url>/{appId}/{region}/v3`):
 *   GET /groups?perPage&page[&sortBy&sortOrder][&updatedAt&affix=append]
 *   GET /groups/{guid}/members?perPage&page
 *   GET /users/{uid}/auth_tokens/{authToken}
 * `apikey` header required (401 otherwise), `perPage` at most 1000, `{data, meta: {pagination}}`
 * answers, 404 for unknown groups and tokens. Faults: the next N requests answer 429 with
 * Retry-After, or a 5xx; `down` closes every connection. Every request is recorded.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Teardown { teardown(fn: () => unknown): void }

export interface FakeGroup { guid: string; owner: string; members: Set<string>; createdAt: number; updatedAt: number }

export interface FakeCometChatApp {
  apiKey: string;
  groups: Map<string, FakeGroup>;
  /** authToken → { uid, createdAt } */
  tokens: Map<string, { uid: string; createdAt: number }>;
}

export interface RecordedRequest { appId: string; path: string; query: URLSearchParams; status: number; at: number }

export interface FakeCometChat {
  /** The COMETCHAT_API_URL template for the service. */
  template: string;
  apps: Map<string, FakeCometChatApp>;
  requests: RecordedRequest[];
  /** The next `count` requests answer `status` (429 carries Retry-After: retryAfter seconds); faults queue up. */
  fail(count: number, status: number, retryAfter?: number): void;
  down: boolean;
  /** CometChat's clock (unix seconds) used for updatedAt; tests move it. */
  clock: number;
  app(appId: string, apiKey: string): FakeCometChatApp;
  createGroup(appId: string, guid: string, owner: string, members: string[]): FakeGroup;
  /** A membership change as CometChat makes it: members change and updatedAt moves to now. */
  setMembers(appId: string, guid: string, members: string[]): void;
  deleteGroup(appId: string, guid: string): void;
  /** A token in CometChat's shape: `<uid>_<createdAt><30 hex>`. */
  issueToken(appId: string, uid: string): string;
  flushTokens(appId: string, uid: string): void;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function paginate<T>(items: T[], query: URLSearchParams): { data: T[]; meta: Record<string, unknown> } | null {
  const perPage = Number(query.get('perPage') ?? 100);
  const page = Number(query.get('page') ?? 1);
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > 1000 || !Number.isInteger(page) || page < 1) return null;
  const data = items.slice((page - 1) * perPage, page * perPage);
  return {
    data,
    meta: { pagination: { total: items.length, count: data.length, per_page: perPage, current_page: page, total_pages: Math.max(1, Math.ceil(items.length / perPage)) } },
  };
}

export async function startFakeCometChat(t: Teardown): Promise<FakeCometChat> {
  const apps = new Map<string, FakeCometChatApp>();
  const requests: RecordedRequest[] = [];
  const faults: Array<{ count: number; status: number; retryAfter?: number }> = [];
  let tokenSeq = 0;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (fake.down) {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const [, appId, region, version, ...rest] = url.pathname.split('/').map(decodeURIComponent);
    const record = (status: number) => requests.push({ appId, path: `/${rest.join('/')}`, query: url.searchParams, status, at: Date.now() });
    const answer = (status: number, body: unknown, headers?: Record<string, string>) => {
      record(status);
      send(res, status, body, headers);
    };
    const fault = faults[0];
    if (fault) {
      if (--fault.count <= 0) faults.shift();
      const code = fault.status === 429 ? 'ERR_TOO_MANY_REQUESTS' : 'ERR_INTERNAL';
      return answer(fault.status, { error: { code, message: 'failing on purpose' } }, fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {});
    }
    const app = apps.get(appId);
    if (req.method !== 'GET' || version !== 'v3' || !['us', 'eu', 'in'].includes(region) || !app) return answer(404, { error: { code: 'ERR_NOT_FOUND', message: 'no such route' } });
    if (req.headers.apikey !== app.apiKey) return answer(401, { error: { code: 'AUTH_ERR_APIKEY_NOT_FOUND', message: 'The apikey is invalid' } });

    if (rest[0] === 'groups' && rest.length === 1) {
      let groups = [...app.groups.values()];
      const since = url.searchParams.get('updatedAt');
      if (since !== null && url.searchParams.get('affix') === 'append') {
        groups = groups.filter((g) => g.updatedAt > Number(since)).sort((a, b) => a.updatedAt - b.updatedAt || (a.guid < b.guid ? -1 : 1));
      } else {
        groups.sort((a, b) => a.createdAt - b.createdAt || (a.guid < b.guid ? -1 : 1));
      }
      const page = paginate(groups.map((g) => ({
        guid: g.guid, name: g.guid, type: 'private', owner: g.owner, membersCount: g.members.size, createdAt: g.createdAt, updatedAt: g.updatedAt, hasJoined: false,
      })), url.searchParams);
      if (!page) return answer(400, { error: { code: 'ERR_BAD_REQUEST', message: 'perPage is at most 1000' } });
      const last = groups[groups.length - 1];
      return answer(200, { ...page, meta: { ...page.meta, cursor: { updatedAt: last?.updatedAt ?? 0, affix: 'append' } } });
    }
    if (rest[0] === 'groups' && rest[2] === 'members' && rest.length === 3) {
      const group = app.groups.get(rest[1]);
      if (!group) return answer(404, { error: { code: 'ERR_GUID_NOT_FOUND', message: `The group with guid ${rest[1]} does not exist` } });
      const page = paginate([...group.members].sort().map((uid) => ({ uid, name: uid, scope: uid === group.owner ? 'admin' : 'participant', joinedAt: group.createdAt })), url.searchParams);
      if (!page) return answer(400, { error: { code: 'ERR_BAD_REQUEST', message: 'perPage is at most 1000' } });
      return answer(200, page);
    }
    if (rest[0] === 'users' && rest[2] === 'auth_tokens' && rest.length === 4) {
      const token = app.tokens.get(rest[3]);
      if (!token || token.uid !== rest[1]) return answer(404, { error: { code: 'ERR_AUTH_TOKEN_NOT_FOUND', message: 'The auth token does not exist' } });
      return answer(200, { data: { uid: token.uid, authToken: rest[3], createdAt: token.createdAt } });
    }
    return answer(404, { error: { code: 'ERR_NOT_FOUND', message: 'no such route' } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const fake: FakeCometChat = {
    template: `http://127.0.0.1:${port}/{appId}/{region}/v3`,
    apps,
    requests,
    down: false,
    clock: Math.floor(Date.now() / 1000) - 86_400,
    fail(count, status, retryAfter) { faults.push({ count, status, retryAfter }); },
    app(appId, apiKey) {
      let app = apps.get(appId);
      if (!app) apps.set(appId, (app = { apiKey, groups: new Map(), tokens: new Map() }));
      return app;
    },
    createGroup(appId, guid, owner, members) {
      const at = ++fake.clock;
      const group = { guid, owner, members: new Set([owner, ...members]), createdAt: at, updatedAt: at };
      apps.get(appId)!.groups.set(guid, group);
      return group;
    },
    setMembers(appId, guid, members) {
      const group = apps.get(appId)!.groups.get(guid)!;
      group.members = new Set(members);
      group.updatedAt = ++fake.clock;
    },
    deleteGroup(appId, guid) { apps.get(appId)!.groups.delete(guid); },
    issueToken(appId, uid) {
      const createdAt = ++fake.clock;
      const token = `${uid}_${createdAt}${(++tokenSeq).toString(16).padStart(30, 'a')}`;
      apps.get(appId)!.tokens.set(token, { uid, createdAt });
      return token;
    },
    flushTokens(appId, uid) {
      const tokens = apps.get(appId)!.tokens;
      for (const [token, record] of tokens) if (record.uid === uid) tokens.delete(token);
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  t.teardown(() => fake.close());
  return fake;
}
