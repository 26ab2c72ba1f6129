/**
 * The demo chat's relay: a tiny, in-memory stand-in for the chat platform (development only).
 *
 * Like a real platform it owns the groups and their members, tells e2ee-extension about every
 * membership change through the platform's webhooks (CometChat's format), and stores and hands out
 * messages. It never sees plaintext: the pages encrypt before posting and decrypt after reading,
 * and a message that does not look like E3Kit's ciphertext is refused.
 *
 * To show what end-to-end encryption guarantees, it keeps handing a group's new messages to members
 * it removed (as a leaky or compromised platform could): their page receives the ciphertext and
 * cannot decrypt it.
 */
import { randomBytes } from 'node:crypto';
import { forbidden, invalid, notFound } from '../lib/errors.js';

export const DEMO_USERS = ['alice', 'bob', 'carol'] as const;
export type DemoUser = (typeof DEMO_USERS)[number];

export interface RelayGroup {
  guid: string;
  name: string;
  owner: string;
  members: string[];
  /** Removed members, who still receive the (unreadable) new messages. */
  removed: string[];
  createdAt: string;
}

export interface RelayMessage {
  id: number;
  guid: string;
  sender: string;
  ciphertext: string;
  sentAt: string;
}

/** A CometChat webhook envelope, as the platform would POST it. */
export interface PlatformWebhook {
  trigger: string;
  appId: string;
  region: string;
  webhook: string;
  data: Record<string, unknown>;
}

export interface DemoRelayOptions {
  appId: string;
  /** Delivers a webhook to e2ee-extension; a failure fails the change that caused it. */
  deliver: (webhook: PlatformWebhook) => Promise<void>;
  /** Milliseconds since the epoch. */
  now?: () => number;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const MIN_CIPHERTEXT_LENGTH = 64;
const MAX_CIPHERTEXT_LENGTH = 64 * 1024;
const MAX_MESSAGES = 10_000;

export function isDemoUser(uid: string): uid is DemoUser {
  return (DEMO_USERS as readonly string[]).includes(uid);
}

export class DemoRelay {
  readonly #appId: string;
  readonly #deliver: (webhook: PlatformWebhook) => Promise<void>;
  readonly #now: () => number;
  readonly #groups = new Map<string, RelayGroup & { eventSeconds: number }>();
  readonly #messages: RelayMessage[] = [];
  #nextMessageId = 1;

  constructor(options: DemoRelayOptions) {
    this.#appId = options.appId;
    this.#deliver = options.deliver;
    this.#now = options.now ?? Date.now;
  }

  /** Groups `uid` is or was a member of. */
  groupsOf(uid: DemoUser): RelayGroup[] {
    return [...this.#groups.values()].filter((g) => g.members.includes(uid) || g.removed.includes(uid)).map(view);
  }

  async createGroup(owner: DemoUser, name: string, members: DemoUser[]): Promise<RelayGroup> {
    const guid = `demo-${randomBytes(4).toString('hex')}`;
    const all = [...new Set([owner, ...members])];
    const group = { guid, name, owner, members: all, removed: [], createdAt: new Date(this.#now()).toISOString(), eventSeconds: 0 };
    await this.#announce('group_created', group, all, owner);
    this.#groups.set(guid, group);
    return view(group);
  }

  async addMember(actor: DemoUser, guid: string, member: DemoUser): Promise<RelayGroup> {
    const group = this.#groupFor(actor, guid);
    if (group.members.includes(member)) return view(group);
    await this.#announce('group_member_added', group, [member], actor);
    group.members.push(member);
    group.removed = group.removed.filter((uid) => uid !== member);
    return view(group);
  }

  async kick(actor: DemoUser, guid: string, member: DemoUser): Promise<RelayGroup> {
    const group = this.#groupFor(actor, guid);
    if (member === group.owner) throw forbidden('DEMO_OWNER_CANNOT_BE_KICKED', 'The owner stays in the group.');
    if (!group.members.includes(member)) return view(group);
    await this.#announce('group_member_kicked', group, [member], actor);
    group.members = group.members.filter((uid) => uid !== member);
    group.removed.push(member);
    return view(group);
  }

  post(sender: DemoUser, guid: string, ciphertext: string): RelayMessage {
    this.#groupFor(sender, guid);
    if (ciphertext.length < MIN_CIPHERTEXT_LENGTH || ciphertext.length > MAX_CIPHERTEXT_LENGTH || !BASE64.test(ciphertext)) {
      throw invalid('DEMO_NOT_CIPHERTEXT', 'The relay accepts E3Kit ciphertext (base64) only.');
    }
    const message = { id: this.#nextMessageId++, guid, sender, ciphertext, sentAt: new Date(this.#now()).toISOString() };
    this.#messages.push(message);
    if (this.#messages.length > MAX_MESSAGES) this.#messages.shift();
    return message;
  }

  /** Messages of a group after `afterId`, for its members and removed members. */
  messages(reader: DemoUser, guid: string, afterId = 0): RelayMessage[] {
    const group = this.#groups.get(guid);
    if (!group || !(group.members.includes(reader) || group.removed.includes(reader))) throw notFound('DEMO_GROUP_NOT_FOUND', `No group ${guid} for ${reader}.`);
    return this.#messages.filter((m) => m.guid === guid && m.id > afterId);
  }

  /** Everything the relay stores, exactly as stored. */
  stored(): { groups: RelayGroup[]; messages: RelayMessage[] } {
    return { groups: [...this.#groups.values()].map(view), messages: [...this.#messages] };
  }

  /** Only current members change a group or post to it. */
  #groupFor(uid: DemoUser, guid: string): RelayGroup & { eventSeconds: number } {
    const group = this.#groups.get(guid);
    if (!group) throw notFound('DEMO_GROUP_NOT_FOUND', `No group ${guid}.`);
    if (!group.members.includes(uid)) throw forbidden('DEMO_NOT_A_MEMBER', `${uid} is not a member of ${guid}.`);
    return group;
  }

  /**
   * CometChat times events in whole seconds and the service orders them by time, so each change of
   * a group gets a strictly later second than the one before (a kick right after an add must not tie).
   */
  async #announce(trigger: string, group: RelayGroup & { eventSeconds: number }, members: string[], actor: string): Promise<void> {
    const seconds = Math.max(Math.floor(this.#now() / 1000), group.eventSeconds + 1);
    const createdAt = trigger === 'group_created' ? seconds : Math.floor(Date.parse(group.createdAt) / 1000);
    await this.#deliver({
      trigger,
      appId: this.#appId,
      region: 'eu',
      webhook: 'e2ee-demo-relay',
      data: {
        group: { guid: group.guid, name: group.name, type: 'private', owner: group.owner, createdAt, updatedAt: seconds },
        members: Object.fromEntries(members.map((uid) => [uid, { uid, name: uid, scope: uid === group.owner ? 'admin' : 'participant' }])),
        by: { uid: actor, name: actor },
      },
    });
    group.eventSeconds = seconds;
  }
}

function view(group: RelayGroup): RelayGroup {
  return { guid: group.guid, name: group.name, owner: group.owner, members: [...group.members], removed: [...group.removed], createdAt: group.createdAt };
}
