/**
 * Twilio for tests: tenant settings, signed Conversations webhooks (the signature computed here with
 * node:crypto, independently of src/twilio), and a loopback stand-in for Twilio's Conversations REST
 * API speaking its documented shapes (`{<key>: [...], meta: {next_page_url, key, ...}}`, 404 for an
 * unknown conversation, Basic auth with the API key), with a small page size so lists span pages and
 * injectable faults (429 with Retry-After, 5xx).
 *
 * `TwilioPlatform` models what Twilio itself does: a change updates the stand-in's state and, when
 * made from an SDK or over REST with `X-Twilio-Webhook-Enabled`, sends the signed post-action
 * webhook to the service; over REST without the header it sends nothing (only a sweep can see it).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Teardown } from './virgil-clients.js';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
export const sid = (prefix: 'AC' | 'SK' | 'IS' | 'CH' | 'MB') => `${prefix}${hex(16)}`;

export interface TwilioTestSettings {
  accountSid: string;
  authToken: string;
  apiKeySid: string;
  apiKeySecret: string;
  conversationsServiceSid: string;
  webhookUrl: string;
  accessTokenTtlSeconds?: number;
}

/** Fresh settings for a tenant whose public webhook URL is `webhookUrl`. */
export function twilioTestSettings(webhookUrl: string, extra: Partial<TwilioTestSettings> = {}): TwilioTestSettings {
  return {
    accountSid: sid('AC'),
    authToken: hex(16),
    apiKeySid: sid('SK'),
    apiKeySecret: randomBytes(24).toString('base64url').slice(0, 32),
    conversationsServiceSid: sid('IS'),
    webhookUrl,
    ...extra,
  };
}

export type Params = Record<string, string | string[]>;

/**
 * X-Twilio-Signature as Twilio computes it: base64 HMAC-SHA1 of the URL followed by each parameter
 * name and value, names sorted (repeated names: each distinct value, sorted).
 */
export function twilioSignature(authToken: string, url: string, params: Params): string {
  let data = url;
  for (const key of Object.keys(params).sort()) {
    const values = Array.isArray(params[key]) ? [...new Set(params[key] as string[])].sort() : [params[key] as string];
    for (const value of values) data += key + value;
  }
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

/** The form body Twilio posts. */
export function formBody(params: Params): string {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) for (const v of Array.isArray(value) ? value : [value]) form.append(key, v);
  return form.toString();
}

/** Twilio's dates: ISO 8601 to the second. */
export const twilioDate = (ms: number = Date.now()) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

export interface SentWebhook { status: number; body: { data?: Record<string, unknown>; error?: { code: string } } }

/** Posts a form webhook as Twilio would (signature over `signedUrl`, by default the configured one). */
export async function postTwilioWebhook(
  app: FastifyInstance, appId: string, settings: TwilioTestSettings, params: Params,
  opts: { signedUrl?: string; authToken?: string; signature?: string | null; body?: string; contentType?: string } = {},
): Promise<SentWebhook> {
  const signature = opts.signature === undefined
    ? twilioSignature(opts.authToken ?? settings.authToken, opts.signedUrl ?? settings.webhookUrl, params)
    : opts.signature;
  const res = await app.inject({
    method: 'POST',
    url: `/v1/webhooks/${appId}/twilio`,
    headers: {
      'content-type': opts.contentType ?? 'application/x-www-form-urlencoded; charset=UTF-8',
      'i-twilio-idempotency-token': hex(8),
      ...(signature === null ? {} : { 'x-twilio-signature': signature }),
    },
    payload: opts.body ?? formBody(params),
  });
  return { status: res.statusCode, body: res.json() };
}

interface StandInParticipant { sid: string; identity: string | null; dateCreated: string }
interface StandInConversation { sid: string; dateCreated: string; participants: Map<string, StandInParticipant> }

export interface Fault { status: number; retryAfter?: string }

/** Twilio's Conversations REST API on loopback, for one service and one API key. */
export class TwilioStandIn {
  readonly conversations = new Map<string, StandInConversation>();
  /** Paths (with query) of every request received, in order. */
  readonly requests: string[] = [];
  readonly #faults: Fault[] = [];
  #server = createServer((req, res) => this.#handle(req, res));
  url = '';

  constructor(readonly settings: TwilioTestSettings, readonly opts: { maxPageSize: number } = { maxPageSize: 2 }) {}

  static async start(t: Teardown, settings: TwilioTestSettings, opts?: { maxPageSize: number }): Promise<TwilioStandIn> {
    const standIn = new TwilioStandIn(settings, opts);
    await new Promise<void>((resolve) => standIn.#server.listen(0, '127.0.0.1', resolve));
    standIn.url = `http://127.0.0.1:${(standIn.#server.address() as AddressInfo).port}`;
    t.teardown(() => new Promise<void>((resolve) => { standIn.#server.closeAllConnections(); standIn.#server.close(() => resolve()); }));
    return standIn;
  }

  /** The next requests answer these statuses (in order) instead of their data. */
  failNext(...faults: Fault[]): void {
    this.#faults.push(...faults);
  }

  #send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  #error(res: ServerResponse, status: number, message: string, headers?: Record<string, string>) {
    // Twilio's error shape.
    this.#send(res, status, { code: status === 404 ? 20404 : status === 429 ? 20429 : 20500, message, more_info: 'https://www.twilio.com/docs/errors', status }, headers);
  }

  #handle(req: IncomingMessage, res: ServerResponse) {
    this.requests.push(req.url ?? '');
    const expected = `Basic ${Buffer.from(`${this.settings.apiKeySid}:${this.settings.apiKeySecret}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return this.#error(res, 401, 'Authenticate');
    const fault = this.#faults.shift();
    if (fault) return this.#error(res, fault.status, 'Injected fault', fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter });
    const url = new URL(req.url ?? '/', this.url);
    const service = this.settings.conversationsServiceSid;
    const list = new RegExp(`^/v1/Services/${service}/Conversations$`).exec(url.pathname);
    const participants = new RegExp(`^/v1/Services/${service}/Conversations/(CH[0-9a-f]{32})/Participants$`).exec(url.pathname);
    if (req.method !== 'GET' || (!list && !participants)) return this.#error(res, 404, 'The requested resource was not found');
    if (list) {
      const since = url.searchParams.get('StartDate');
      const items = [...this.conversations.values()]
        .filter((c) => since === null || c.dateCreated >= since)
        .sort((a, b) => (a.dateCreated < b.dateCreated ? 1 : -1))
        .map((c) => ({ sid: c.sid, chat_service_sid: service, account_sid: this.settings.accountSid, state: 'active', date_created: c.dateCreated, date_updated: c.dateCreated }));
      return this.#page(res, url, 'conversations', items);
    }
    const conversation = this.conversations.get(participants![1]);
    if (!conversation) return this.#error(res, 404, `The requested resource /Conversations/${participants![1]}/Participants was not found`);
    const items = [...conversation.participants.values()].map((p) => ({
      sid: p.sid, conversation_sid: conversation.sid, chat_service_sid: service, account_sid: this.settings.accountSid,
      identity: p.identity, messaging_binding: p.identity === null ? { type: 'sms', address: '+15550100', proxy_address: '+15550199' } : null,
      role_sid: `RL${hex(16)}`, attributes: '{}', date_created: p.dateCreated, date_updated: p.dateCreated,
    }));
    return this.#page(res, url, 'participants', items);
  }

  /** One page of `items`: Twilio's `Page`/`PageSize`, and meta.next_page_url pointing at the next. */
  #page(res: ServerResponse, url: URL, key: string, items: unknown[]) {
    const pageSize = Math.min(Number(url.searchParams.get('PageSize') ?? 50), this.opts.maxPageSize);
    const page = Number(url.searchParams.get('Page') ?? 0);
    const slice = items.slice(page * pageSize, (page + 1) * pageSize);
    const pageUrl = (n: number) => {
      const u = new URL(url);
      u.searchParams.set('PageSize', String(pageSize));
      u.searchParams.set('Page', String(n));
      if (n > 0) u.searchParams.set('PageToken', `PT${hex(8)}`);
      return u.toString();
    };
    const last = (page + 1) * pageSize >= items.length;
    this.#send(res, 200, {
      [key]: slice,
      meta: {
        page, page_size: pageSize, first_page_url: pageUrl(0), previous_page_url: page > 0 ? pageUrl(page - 1) : null,
        url: url.toString(), next_page_url: last ? null : pageUrl(page + 1), key,
      },
    });
  }
}

type Via = 'sdk' | 'rest' | 'rest-silent';

/**
 * Twilio as the tenant's users and backend drive it: every change lands in the stand-in; `sdk` and
 * `rest` (with X-Twilio-Webhook-Enabled) also post the signed webhook, `rest-silent` does not.
 */
export class TwilioPlatform {
  constructor(
    readonly app: FastifyInstance,
    readonly appId: string,
    readonly settings: TwilioTestSettings,
    readonly standIn: TwilioStandIn,
  ) {}

  #common(via: Via, client?: string): Params {
    return {
      AccountSid: this.settings.accountSid,
      ChatServiceSid: this.settings.conversationsServiceSid,
      Source: via === 'sdk' ? 'SDK' : 'API',
      ...(via === 'sdk' && client ? { ClientIdentity: client } : {}),
      RetryCount: '0',
    };
  }

  async #notify(via: Via, params: Params): Promise<SentWebhook | null> {
    if (via === 'rest-silent') return null;
    const sent = await postTwilioWebhook(this.app, this.appId, this.settings, params);
    if (sent.status !== 200) throw new Error(`${params.EventType}: ${sent.status} ${JSON.stringify(sent.body)}`);
    return sent;
  }

  async createConversation(via: Via = 'rest'): Promise<string> {
    const conversation = { sid: sid('CH'), dateCreated: twilioDate(), participants: new Map() };
    this.standIn.conversations.set(conversation.sid, conversation);
    await this.#notify(via, {
      ...this.#common(via), EventType: 'onConversationAdded', ConversationSid: conversation.sid,
      FriendlyName: 'Hiking club', Attributes: '{}', State: 'active', DateCreated: conversation.dateCreated,
    });
    return conversation.sid;
  }

  async addParticipant(conversationSid: string, identity: string | null, via: Via = 'rest', by?: string): Promise<string> {
    const participant = { sid: sid('MB'), identity, dateCreated: twilioDate() };
    this.standIn.conversations.get(conversationSid)!.participants.set(participant.sid, participant);
    await this.#notify(via, {
      ...this.#common(via, by), EventType: 'onParticipantAdded', ConversationSid: conversationSid, ParticipantSid: participant.sid,
      ...(identity === null ? { 'MessagingBinding.Address': '+15550100', 'MessagingBinding.ProxyAddress': '+15550199' } : { Identity: identity }),
      RoleSid: `RL${hex(16)}`, Attributes: '{}', DateCreated: participant.dateCreated,
    });
    return participant.sid;
  }

  async removeParticipant(conversationSid: string, identity: string, via: Via = 'rest', by?: string): Promise<void> {
    const participants = this.standIn.conversations.get(conversationSid)!.participants;
    const participant = [...participants.values()].find((p) => p.identity === identity)!;
    participants.delete(participant.sid);
    await this.#notify(via, {
      ...this.#common(via, by), EventType: 'onParticipantRemoved', ConversationSid: conversationSid, ParticipantSid: participant.sid,
      Identity: identity, RoleSid: `RL${hex(16)}`, Attributes: '{}', DateCreated: participant.dateCreated, DateUpdated: participant.dateCreated,
    });
  }

  async deleteConversation(conversationSid: string, via: Via = 'rest'): Promise<void> {
    const conversation = this.standIn.conversations.get(conversationSid)!;
    this.standIn.conversations.delete(conversationSid);
    await this.#notify(via, {
      ...this.#common(via), EventType: 'onConversationRemoved', ConversationSid: conversationSid, FriendlyName: 'Hiking club',
      Attributes: '{}', State: 'active', DateCreated: conversation.dateCreated, DateUpdated: conversation.dateCreated,
    });
  }
}
