/**
 * CometChat group webhooks as a platform sends them, over keep-alive HTTP connections from several
 * loopback source addresses (127.0.0.1–127.0.0.<n>). A platform delivers for thousands of apps from
 * many addresses; from one address, an API process meeting thousands of apps it has not cached yet
 * would (rightly) ration the database lookups of that address (TENANT_LOOKUP_RATE_LIMITED).
 */
import http from 'node:http';

/** A CometChat delivery carrying what the intake reads (times in unix seconds). */
export function cometchatDelivery(appId: string, trigger: string, p: { guid: string; owner?: string; members?: string[]; createdAt?: number; updatedAt?: number }) {
  const group = { guid: p.guid, owner: p.owner, createdAt: p.createdAt ?? p.updatedAt, updatedAt: p.updatedAt ?? p.createdAt };
  const members = p.members ? Object.fromEntries(p.members.map((uid) => [uid, { uid }])) : undefined;
  return JSON.stringify({ trigger, appId, region: 'us', webhook: 'bench', data: { group, ...(members ? { members } : {}) } });
}

export class WebhookSender {
  readonly #agents: http.Agent[];
  #next = 0;
  readonly #url: URL;

  constructor(baseUrl: string, opts: { sourceAddresses?: number; maxSockets?: number } = {}) {
    this.#url = new URL(baseUrl);
    const n = opts.sourceAddresses ?? 32;
    this.#agents = Array.from({ length: n }, (_, i) => new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 4, localAddress: `127.0.0.${i + 1}` } as http.AgentOptions));
  }

  /** POSTs a CometChat delivery; resolves with the status (rejects on a network error). */
  send(appId: string, basicAuth: string, body: string): Promise<number> {
    const agent = this.#agents[this.#next++ % this.#agents.length]!;
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: this.#url.hostname, port: this.#url.port, method: 'POST', path: `/v1/webhooks/${appId}/cometchat`, agent,
        headers: { authorization: basicAuth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    for (const agent of this.#agents) agent.destroy();
  }
}

/** Runs `work(i)` for i in [0, count) with at most `inFlight` at once. */
export async function inParallel(count: number, inFlight: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, async () => {
    while (next < count) await work(next++);
  }));
}
