/**
 * The demo chat page (bundled by esbuild, runs in the browser). One user per page: it connects with
 * the client library, logs in (register + backup, or restore), lists the user's groups from the
 * relay, encrypts before posting and decrypts after reading. Nothing but ciphertext leaves the page;
 * a failed encryption sends nothing, a failed decryption shows why.
 */
import { EThree } from '@virgilsecurity/e3kit-browser';
import { connect, isE2eeError, type E2eeClient } from '../../client/index.js';
import type { DemoPageConfig } from '../page-html.js';
import type { RelayGroup, RelayMessage } from '../relay.js';

const config = JSON.parse(document.getElementById('demo-config')!.textContent!) as DemoPageConfig;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface Shown { state: 'decrypted' | 'failed' | 'waiting'; text: string }

const state = {
  uid: '',
  client: null as E2eeClient | null,
  groups: [] as RelayGroup[],
  selected: null as string | null,
  /** Per group: what each message showed; a message decrypted once stays readable on screen. */
  shown: new Map<string, Map<number, Shown>>(),
  messages: new Map<string, RelayMessage[]>(),
};

/** In a real app this is a secret only the user knows: never their id, never anything the server has. */
const backupPassword = (uid: string) => `${uid}-demo-backup-password`;

/** What each region of the page last showed: a region is rebuilt only when that changes, so a
 * button is never swapped out from under a click. */
const rendered = new Map<string, string>();
function changed(region: string, content: unknown): boolean {
  const key = JSON.stringify(content);
  if (rendered.get(region) === key) return false;
  rendered.set(region, key);
  return true;
}

async function relay<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${config.relayUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = await response.json() as { data?: T; error?: { code: string; message: string } };
  if (!response.ok || json.data === undefined) throw new Error(json.error ? `${json.error.code}: ${json.error.message}` : `relay answered ${response.status}`);
  return json.data;
}

function setStatus(text: string, isError = false): void {
  const status = $('status');
  status.textContent = text;
  status.className = isError ? 'error' : '';
}

function describe(error: unknown): string {
  return isE2eeError(error) ? `${error.code}: ${error.message}` : String(error);
}

// ---- login ----------------------------------------------------------------------------------

function showUserPicker(): void {
  const users = $('users');
  for (const uid of config.users) {
    const button = document.createElement('button');
    button.textContent = uid;
    button.dataset.user = uid;
    button.addEventListener('click', () => void signIn(uid));
    users.append(button);
  }
}

async function signIn(uid: string): Promise<void> {
  state.uid = uid;
  $('login').hidden = true;
  $('app').hidden = false;
  const me = $('me');
  me.textContent = `Signed in as ${uid}: connecting…`;
  let caller: { token: string; expiresAt: number } | null = null;
  // The chat platform's login gives the page a caller token (the tenant's backend would issue it).
  const getAuthToken = async () => {
    if (!caller || caller.expiresAt - Date.now() < 60_000) caller = await relay<{ token: string; expiresAt: number }>('GET', `/token?uid=${encodeURIComponent(uid)}`);
    return caller.token;
  };
  try {
    state.client = await connect({
      apiUrl: config.apiUrl || location.origin,
      appId: config.appId,
      getAuthToken,
      eThree: EThree,
      eThreeOptions: config.virgilApiUrl ? { apiUrl: config.virgilApiUrl } : {},
    });
    const outcome = await state.client.login(backupPassword(uid));
    const how = { 'local-key': 'key found on this device', restored: 'key restored from its backup', registered: 'new key registered and backed up' }[outcome];
    me.textContent = `Signed in as ${uid} · identity ${state.client.identity.slice(0, 10)}… · ${how}`;
    me.dataset.state = 'ready';
    me.dataset.outcome = outcome;
  } catch (error) {
    me.textContent = `Signed in as ${uid}: encryption unavailable (${describe(error)})`;
    me.dataset.state = 'failed';
    return;
  }
  renderMemberChoices();
  void pollForever();
}

// ---- groups -----------------------------------------------------------------------------------

function renderMemberChoices(): void {
  const fieldset = $('new-members');
  for (const uid of config.users.filter((u) => u !== state.uid)) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.name = 'member';
    box.value = uid;
    box.checked = true;
    label.append(box, ` ${uid} `);
    fieldset.append(label);
  }
}

$('create-group').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.target as HTMLFormElement;
  const name = (form.elements.namedItem('name') as HTMLInputElement).value.trim();
  const members = [...form.querySelectorAll<HTMLInputElement>('input[name=member]:checked')].map((box) => box.value);
  void relay<RelayGroup>('POST', '/groups', { uid: state.uid, name, members })
    .then((group) => {
      form.reset();
      state.selected = group.guid;
      setStatus(`Group "${name}" created; the service is creating its Virgil group.`);
      return refresh();
    })
    .catch((error) => setStatus(`Could not create the group: ${describe(error)}`, true));
});

function renderGroups(): void {
  if (!changed('groups', [state.groups, state.selected])) return;
  const list = $('groups');
  list.replaceChildren(...state.groups.map((group) => {
    const item = document.createElement('li');
    const removed = !group.members.includes(state.uid);
    item.textContent = removed ? `${group.name} (removed)` : group.name;
    item.dataset.guid = group.guid;
    item.classList.toggle('selected', group.guid === state.selected);
    item.classList.toggle('removed', removed);
    item.addEventListener('click', () => { state.selected = group.guid; void refresh(); });
    return item;
  }));
}

function renderMembers(group: RelayGroup): void {
  if (!changed('members', group)) return;
  const box = $('members');
  const isMember = group.members.includes(state.uid);
  const rows: HTMLElement[] = group.members.map((uid) => {
    const span = document.createElement('span');
    span.textContent = uid === group.owner ? `${uid} (owner)` : uid;
    span.dataset.member = uid;
    if (isMember && uid !== group.owner && uid !== state.uid) {
      const kick = document.createElement('button');
      kick.textContent = 'kick';
      kick.dataset.kick = uid;
      kick.addEventListener('click', () => void changeMember('kick', group.guid, uid));
      span.append(kick);
    }
    return span;
  });
  const addable = config.users.filter((uid) => !group.members.includes(uid));
  if (isMember) {
    for (const uid of addable) {
      const add = document.createElement('button');
      add.textContent = `add ${uid}`;
      add.dataset.add = uid;
      add.addEventListener('click', () => void changeMember('members', group.guid, uid));
      rows.push(add);
    }
  }
  box.replaceChildren('Members: ', ...rows.flatMap((row, i) => (i === 0 ? [row] : [' · ', row])));
}

async function changeMember(action: 'kick' | 'members', guid: string, member: string): Promise<void> {
  try {
    await relay('POST', `/groups/${encodeURIComponent(guid)}/${action}`, { uid: state.uid, member });
    setStatus(action === 'kick' ? `${member} was removed; the service gives the Virgil group a new epoch.` : `${member} was added.`);
    await refresh();
  } catch (error) {
    setStatus(`Could not change the group: ${describe(error)}`, true);
  }
}

// ---- messages ---------------------------------------------------------------------------------

$('compose').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = (event.target as HTMLFormElement).elements.namedItem('text') as HTMLInputElement;
  const text = input.value;
  const guid = state.selected;
  if (!guid || !state.client || text === '') return;
  void (async () => {
    try {
      const group = await state.client!.group(guid);
      const ciphertext = await group.encrypt(text);
      await relay('POST', `/groups/${encodeURIComponent(guid)}/messages`, { uid: state.uid, ciphertext });
      input.value = '';
      setStatus('Sent (encrypted).');
      await refresh();
    } catch (error) {
      // Fail closed: nothing was sent.
      setStatus(`Not sent: ${describe(error)}`, true);
    }
  })();
});

async function decryptNew(guid: string, messages: RelayMessage[], isMember: boolean): Promise<void> {
  const shown = state.shown.get(guid) ?? new Map<number, Shown>();
  state.shown.set(guid, shown);
  for (const message of messages) {
    const seen = shown.get(message.id)?.state;
    if (seen === 'decrypted' || seen === 'failed') continue;
    try {
      const group = await state.client!.group(guid);
      const text = await group.decrypt(message.ciphertext, { senderUid: message.sender, encryptedAt: message.sentAt });
      shown.set(message.id, { state: 'decrypted', text });
    } catch (error) {
      // A member may be waiting for the service to create or update the group: try again later.
      const waiting = isMember && isE2eeError(error, 'GROUP_UNAVAILABLE');
      shown.set(message.id, waiting
        ? { state: 'waiting', text: 'waiting for the Virgil group…' }
        : { state: 'failed', text: `cannot decrypt: ${failureReason(error)}` });
    }
  }
}

function failureReason(error: unknown): string {
  if (isE2eeError(error, 'GROUP_UNAVAILABLE')) return 'this device is no longer in the Virgil group (GROUP_UNAVAILABLE)';
  if (isE2eeError(error, 'SENDER_NOT_VERIFIED')) return 'the signature is not the sender\'s (SENDER_NOT_VERIFIED)';
  return isE2eeError(error) ? error.code : 'unexpected error';
}

function renderMessages(guid: string): void {
  const shown = state.shown.get(guid) ?? new Map<number, Shown>();
  const messages = state.messages.get(guid) ?? [];
  if (!changed('messages', [guid, messages.map((m) => [m.id, shown.get(m.id)])])) return;
  $('messages').replaceChildren(...messages.map((message) => {
    const item = document.createElement('li');
    const view = shown.get(message.id);
    item.dataset.messageId = String(message.id);
    item.dataset.state = view?.state ?? 'pending';
    const sender = document.createElement('span');
    sender.className = 'sender';
    sender.textContent = message.sender;
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = view?.text ?? 'decrypting…';
    item.append(sender, text);
    return item;
  }));
  $('stored-rows').replaceChildren(...messages.map((message) => {
    const row = document.createElement('tr');
    for (const [value, cls] of [[String(message.id), ''], [message.sender, ''], [message.sentAt.slice(11, 19), ''], [message.ciphertext, 'ciphertext']]) {
      const cell = document.createElement('td');
      cell.textContent = value;
      if (cls) cell.className = cls;
      row.append(cell);
    }
    return row;
  }));
}

/** The service's view of the group is asked again when the platform's changed, else every few seconds. */
const STATUS_RECHECK_MS = 5_000;
let statusChecked = { key: '', at: 0 };

async function renderGroupStatus(group: RelayGroup): Promise<void> {
  const key = JSON.stringify([group.guid, group.members]);
  if (key === statusChecked.key && Date.now() - statusChecked.at < STATUS_RECHECK_MS) return;
  statusChecked = { key, at: Date.now() };
  const line = $('group-status');
  try {
    const membership = await state.client!.membership(group.guid);
    line.textContent = membership === undefined ? ''
      : membership === null ? 'The service does not count you as a member: nothing you send would be encrypted for this group.'
        : `Virgil group ${membership.status} · membership version ${membership.membershipVersion}`;
    line.dataset.status = membership?.status ?? '';
  } catch {
    line.textContent = '';
  }
}

// ---- refresh loop -----------------------------------------------------------------------------

/** One refresh at a time: the poll and the user's own actions both ask for one. */
let refreshing: Promise<void> = Promise.resolve();
function refresh(): Promise<void> {
  const run = refreshing.then(refreshNow);
  refreshing = run.catch(() => undefined);
  return run;
}

async function refreshNow(): Promise<void> {
  state.groups = await relay<RelayGroup[]>('GET', `/groups?uid=${encodeURIComponent(state.uid)}`);
  if (state.selected === null && state.groups.length > 0) state.selected = state.groups[0].guid;
  renderGroups();
  const group = state.groups.find((g) => g.guid === state.selected);
  if (!group) return;
  const isMember = group.members.includes(state.uid);
  $('chat-title').textContent = group.name;
  $('chat-title').dataset.guid = group.guid;
  ($('compose') as HTMLFormElement).hidden = !isMember;
  renderMembers(group);
  const known = state.messages.get(group.guid) ?? [];
  const after = known.length > 0 ? known[known.length - 1].id : 0;
  const fresh = await relay<RelayMessage[]>('GET', `/groups/${encodeURIComponent(group.guid)}/messages?uid=${encodeURIComponent(state.uid)}&after=${after}`);
  const all = [...known, ...fresh];
  state.messages.set(group.guid, all);
  await decryptNew(group.guid, all, isMember);
  renderMessages(group.guid);
  await renderGroupStatus(group);
}

async function pollForever(): Promise<void> {
  for (;;) {
    try {
      await refresh();
    } catch (error) {
      setStatus(`Relay unreachable: ${describe(error)}`, true);
    }
    await new Promise((resolve) => setTimeout(resolve, config.pollMs));
  }
}

showUserPicker();
