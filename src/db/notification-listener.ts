/**
 * One dedicated PostgreSQL connection per process for `LISTEN`, shared by every cache that other
 * processes invalidate with `NOTIFY` (writers send it inside their transaction, so it is delivered
 * on commit, to every replica).
 *
 * Notifications sent while the connection is down are lost, so it is re-established after a second
 * and every subscriber's `onReconnect` runs then: each drops what it may have missed. A process
 * without a database URL gets a listener that never connects (subscribers then rely on their TTLs).
 */
import pg from 'pg';
import type { Logger } from 'pino';

interface Subscription { channel: string; onMessage: (payload: string) => void; onReconnect?: () => void }

const RECONNECT_DELAY_MS = 1_000;

export class NotificationListener {
  readonly #subs: Subscription[] = [];
  #client: pg.Client | null = null;
  #started = false;
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: { databaseUrl?: string; log?: Logger }) {}

  /**
   * Calls `onMessage` with the payload of every notification on `channel`, and `onReconnect` after
   * the connection was lost and re-established. Channel names are fixed identifiers of this code.
   */
  subscribe(channel: string, onMessage: (payload: string) => void, onReconnect?: () => void): void {
    if (!/^[a-z_]+$/.test(channel)) throw new Error(`invalid channel name ${channel}`);
    this.#subs.push({ channel, onMessage, onReconnect });
    const client = this.#client;
    if (client) {
      client.query(`LISTEN ${channel}`).catch((err: Error) => this.opts.log?.warn({ channel, err: err.message }, 'LISTEN failed'));
    }
  }

  /** Connects; resolves once listening. A no-op without a database URL. */
  async start(): Promise<void> {
    if (!this.opts.databaseUrl || this.#started) return;
    this.#started = true;
    await this.#connect(false);
  }

  async #connect(reconnect: boolean): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.databaseUrl, application_name: 'e2ee-extension-listener' });
    client.on('notification', (msg) => {
      if (msg.payload === undefined) return;
      for (const sub of this.#subs) if (sub.channel === msg.channel) sub.onMessage(msg.payload);
    });
    client.on('error', (err) => {
      this.opts.log?.warn({ err: err.message }, 'notification listener lost its connection; reconnecting');
      this.#scheduleReconnect(client);
    });
    client.on('end', () => this.#scheduleReconnect(client));
    await client.connect();
    for (const channel of new Set(this.#subs.map((s) => s.channel))) await client.query(`LISTEN ${channel}`);
    this.#client = client;
    // Anything may have changed while nobody was listening.
    if (reconnect) for (const sub of this.#subs) sub.onReconnect?.();
  }

  #scheduleReconnect(client: pg.Client) {
    if (this.#closed || this.#client !== client || this.#reconnectTimer) return;
    this.#client = null;
    client.end().catch(() => {});
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#connect(true).catch((err) => {
        this.opts.log?.warn({ err: (err as Error).message }, 'notification listener reconnect failed');
        this.#client = client; // let the next attempt be scheduled
        this.#scheduleReconnect(client);
      });
    }, RECONNECT_DELAY_MS);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }
}
