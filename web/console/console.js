// The operators' console: a small single-page app over the admin API of the same origin.
//
// - The admin token is asked for once and kept in this tab's sessionStorage only (gone when the tab
//   closes; never in a cookie, a URL or localStorage). Every API call sends it as a bearer token; a
//   401 signs out.
// - Everything shown comes from the admin API, which never returns a secret; every value is written
//   as text (textContent), never as HTML, since guids, uids and error messages come from outside.
// - Views are chosen by the URL fragment (#/tenants, #/tenants/<appId>, #/tenants/<appId>/groups/<guid>,
//   #/onboard, #/audit), so the back button and bookmarks work.

const TOKEN_KEY = 'e2ee-admin-token';
const API = '/admin/v1';
const PAGE = 20;
const STATUSES = ['failed', 'pending', 'over_capacity', 'synced', 'deleted'];
const ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** A change waiting longer than this marks a tenant as lagging. */
const LAGGING_MS = 5 * 60_000;
const GROUP_REFRESH_MS = 1_500;

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const statusLine = document.getElementById('status');
let refreshTimer = null;
let renderId = 0;

// ---------------------------------------------------------------- helpers

/** An element with attributes and children; strings become text nodes, never markup. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const enc = encodeURIComponent;
const say = (message) => { statusLine.textContent = message; };

function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function age(iso) {
  if (!iso) return '—';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

const badge = (status) => h('span', { class: `badge s-${status}` }, status.replace('_', ' '));

function table(headers, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map((label) => h('th', { scope: 'col', class: label.num ? 'num' : null }, label.text ?? label)))),
    h('tbody', {}, rows));
}

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  const json = await res.json().catch(() => null);
  if (res.status === 401) {
    signOut('The admin token was refused. Sign in again.');
    throw new ApiError(401, 'ADMIN_UNAUTHORIZED', 'The admin token was refused');
  }
  if (!res.ok) throw new ApiError(res.status, json?.error?.code ?? `HTTP_${res.status}`, json?.error?.message ?? res.statusText, json?.error?.details);
  return json.data;
}

function errorText(err) {
  if (!(err instanceof ApiError)) return `Request failed: ${err.message}`;
  const fields = (err.details?.errors ?? []).map((e) => `${e.path}${e.property ? `.${e.property}` : ''}: ${e.message}`);
  return [`${err.code}: ${err.message}`, ...fields].join(' — ');
}

/** A list that fetches pages on demand: `load(cursor)` returns {items, nextCursor}; `row(item)` a <tr>. */
function pagedTable(headers, load, row, empty) {
  const box = h('div');
  const rows = [];
  let cursor;
  const more = h('button', { type: 'button', onclick: () => next() }, 'Load more');
  async function next() {
    more.disabled = true;
    try {
      const page = await load(cursor);
      rows.push(...page.items.map(row));
      cursor = page.nextCursor;
      box.replaceChildren(table(headers, rows, empty), page.nextCursor ? more : '');
    } catch (err) {
      box.replaceChildren(h('p', { class: 'error', role: 'alert' }, errorText(err)));
    } finally {
      more.disabled = false;
    }
  }
  next();
  return box;
}

// ---------------------------------------------------------------- sign in / out

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  say(message ?? 'Signed out.');
  if (location.hash !== '#/sign-in') location.hash = '#/sign-in';
  else render();
}

function signInView() {
  nav.hidden = true;
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const problem = h('p', { id: 'sign-in-error', class: 'error', role: 'alert' });
  const form = h('form', { id: 'sign-in', onsubmit: async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    input.value = '';
    problem.textContent = '';
    const res = await fetch(`${API}/tenants?limit=1`, { headers: { authorization: `Bearer ${value}` }, cache: 'no-store' }).catch(() => null);
    if (res?.ok) {
      sessionStorage.setItem(TOKEN_KEY, value);
      say('Signed in.');
      if (location.hash === '#/tenants') render();
      else location.hash = '#/tenants';
      return;
    }
    problem.textContent = res?.status === 401 ? 'That admin token was refused.' : `Could not sign in (${res ? `HTTP ${res.status}` : 'no answer'}).`;
    input.focus();
  } },
  h('label', { for: 'token' }, 'Admin token', h('small', {}, 'One of ADMIN_TOKENS. Kept in this tab only, until you sign out or close it.')),
  input,
  h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
  main.replaceChildren(h('h2', {}, 'Sign in'), form, problem);
  input.focus();
}

// ---------------------------------------------------------------- tenants

function health(summary, status) {
  if (status === 'disabled') return ['disabled', 'disabled'];
  if (summary.groups.failed > 0) return ['failed', `${summary.groups.failed} failed`];
  if (summary.oldestUnsyncedChangeAt && Date.now() - Date.parse(summary.oldestUnsyncedChangeAt) > LAGGING_MS) return ['lagging', 'lagging'];
  return ['ok', 'ok'];
}

function webhookCounts(counts) {
  const entries = Object.entries(counts);
  return entries.length === 0 ? '—' : entries.map(([result, n]) => `${result} ${n}`).join(', ');
}

function tenantsView() {
  const headers = ['App id', 'Status', 'Health', { text: 'Groups', num: true }, { text: 'Failed', num: true }, { text: 'Pending', num: true },
    { text: 'Users awaiting registration', num: true }, 'Oldest waiting change', 'Webhooks, last hour'];
  const list = pagedTable(headers, async (cursor) => {
    const page = await api('GET', `/tenants?limit=${PAGE}${cursor ? `&cursor=${enc(cursor)}` : ''}`);
    const summaries = await Promise.all(page.items.map((t) => api('GET', `/tenants/${enc(t.appId)}/summary`).catch(() => null)));
    return { items: page.items.map((tenant, i) => ({ tenant, summary: summaries[i] })), nextCursor: page.nextCursor };
  }, ({ tenant, summary }) => {
    const [kind, label] = summary ? health(summary, tenant.status) : ['failed', 'unknown'];
    return h('tr', { 'data-app-id': tenant.appId },
      h('td', {}, h('a', { href: `#/tenants/${enc(tenant.appId)}` }, tenant.appId)),
      h('td', {}, tenant.status),
      h('td', {}, h('span', { class: `badge h-${kind}` }, label)),
      h('td', { class: 'num' }, summary?.groups.total ?? '—'),
      h('td', { class: 'num' }, summary?.groups.failed ?? '—'),
      h('td', { class: 'num' }, summary?.groups.pending ?? '—'),
      h('td', { class: 'num' }, summary?.membersPendingRegistration ?? '—'),
      h('td', {}, age(summary?.oldestUnsyncedChangeAt)),
      h('td', {}, summary ? webhookCounts(summary.webhookDeliveriesLastHour) : '—'));
  }, 'No tenant yet.');
  main.replaceChildren(h('h2', {}, 'Tenants'), h('p', {}, h('a', { href: '#/onboard' }, 'Onboard a tenant')), list);
}

// ---------------------------------------------------------------- onboarding

function field(label, name, attrs = {}, hint) {
  const id = `f-${name.replace(/\./g, '-')}`;
  const control = attrs.multiline
    ? h('textarea', { id, name, ...attrs, multiline: null })
    : h('input', { id, name, type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });
  return h('label', { for: id }, label, hint ? h('small', {}, hint) : null, control);
}

function onboardView() {
  const algorithm = h('select', { id: 'f-userAuth-algorithm', name: 'userAuth.algorithm' }, ALGORITHMS.map((a) => h('option', { value: a }, a)));
  const problem = h('p', { class: 'error', role: 'alert', id: 'onboard-error' });
  const form = h('form', { id: 'onboard-form', onsubmit: (event) => submitOnboarding(event, form, problem) },
    h('fieldset', {}, h('legend', {}, 'Tenant'),
      field('App id', 'appId', { required: true, pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}' }, 'The chat app, as webhooks and clients name it (appId header).')),
    h('fieldset', {}, h('legend', {}, 'Virgil application'),
      field('APP_ID', 'virgil.appId', { required: true }),
      field('APP_KEY_ID', 'virgil.appKeyId', { required: true }),
      field('APP_KEY', 'virgil.appKey', { required: true, multiline: true }, 'Base64 PKCS#8 Ed25519 private key. Sealed at rest; never shown again.')),
    h('fieldset', {}, h('legend', {}, 'Caller tokens'),
      h('label', { for: 'f-userAuth-algorithm' }, 'Algorithm', algorithm),
      field('Shared secret (HS*)', 'userAuth.secret', { type: 'password' }, 'At least 32 characters.'),
      field('Public key (RS*, ES*, EdDSA)', 'userAuth.publicKey', { multiline: true }, 'PEM.'),
      field('Issuer (optional)', 'userAuth.issuer'),
      field('Audience (optional)', 'userAuth.audience')),
    h('fieldset', {}, h('legend', {}, 'Webhooks'),
      field('CometChat Basic auth user name (optional)', 'webhooks.basicAuth.username'),
      field('CometChat Basic auth password', 'webhooks.basicAuth.password', { type: 'password' }),
      field('Standard Webhooks signing secret (optional)', 'webhooks.signingSecret', { type: 'password' }, 'whsec_…')),
    h('fieldset', {}, h('legend', {}, 'Tokens'),
      field('Virgil JWT lifetime in seconds (optional)', 'jwtTtlSeconds', { type: 'number', min: 60, max: 86400 })),
    h('div', {}, h('button', { type: 'submit', class: 'primary', id: 'onboard-submit' }, 'Onboard')));
  main.replaceChildren(h('h2', {}, 'Onboard a tenant'),
    h('p', { class: 'hint' }, 'The service publishes the tenant’s service identity card on Virgil with these credentials, which also checks them.'),
    form, problem);
}

function onboardingBody(form) {
  const value = (name) => form.elements.namedItem(name).value.trim();
  const optional = (name) => value(name) || undefined;
  const userAuth = { algorithm: value('userAuth.algorithm') };
  if (userAuth.algorithm.startsWith('HS')) userAuth.secret = value('userAuth.secret');
  else userAuth.publicKey = value('userAuth.publicKey');
  if (optional('userAuth.issuer')) userAuth.issuer = value('userAuth.issuer');
  if (optional('userAuth.audience')) userAuth.audience = value('userAuth.audience');
  const webhooks = {};
  if (optional('webhooks.basicAuth.username')) webhooks.basicAuth = { username: value('webhooks.basicAuth.username'), password: value('webhooks.basicAuth.password') };
  if (optional('webhooks.signingSecret')) webhooks.signingSecret = value('webhooks.signingSecret');
  const body = {
    appId: value('appId'),
    virgil: { appId: value('virgil.appId'), appKeyId: value('virgil.appKeyId'), appKey: value('virgil.appKey').replace(/\s+/g, '') },
    userAuth,
  };
  if (Object.keys(webhooks).length > 0) body.webhooks = webhooks;
  if (optional('jwtTtlSeconds')) body.jwtTtlSeconds = Number(value('jwtTtlSeconds'));
  return body;
}

async function submitOnboarding(event, form, problem) {
  event.preventDefault();
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  problem.textContent = '';
  say('Onboarding…');
  try {
    const tenant = await api('POST', '/tenants', onboardingBody(form));
    // The secrets typed in leave the page as soon as they are sent.
    form.reset();
    say(`Tenant ${tenant.appId} onboarded.`);
    location.hash = `#/tenants/${enc(tenant.appId)}`;
  } catch (err) {
    say('');
    problem.textContent = errorText(err);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- one tenant

function summaryFacts(summary) {
  const groups = STATUSES.map((s) => `${s.replace('_', ' ')} ${summary.groups[s]}`).join(', ');
  return h('dl', { class: 'facts', id: 'tenant-summary' },
    h('dt', {}, 'Status'), h('dd', {}, summary.status),
    h('dt', {}, 'Groups'), h('dd', {}, `${summary.groups.total} (${groups})`),
    h('dt', {}, 'Users awaiting registration'), h('dd', {}, summary.membersPendingRegistration),
    h('dt', {}, 'Oldest change waiting for the worker'), h('dd', {}, summary.oldestUnsyncedChangeAt ? `${when(summary.oldestUnsyncedChangeAt)} (${age(summary.oldestUnsyncedChangeAt)})` : 'none'),
    h('dt', {}, 'Webhook deliveries, last hour'), h('dd', {}, webhookCounts(summary.webhookDeliveriesLastHour)));
}

function groupList(appId) {
  const box = h('div', { id: 'group-list' });
  const buttons = [['all', 'All'], ...STATUSES.map((s) => [s, s.replace('_', ' ')])].map(([status, label]) =>
    h('button', { type: 'button', 'data-status': status, 'aria-pressed': status === 'all' ? 'true' : 'false', onclick: () => show(status) }, label));
  function show(status) {
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.status === status));
    const filter = status === 'all' ? '' : `&status=${status}`;
    box.replaceChildren(pagedTable(['Group', 'Status', 'Last error', { text: 'On Virgil', num: true }, { text: 'Awaiting registration', num: true }, 'Waiting since', 'Updated'],
      (cursor) => api('GET', `/tenants/${enc(appId)}/groups?limit=${PAGE}${filter}${cursor ? `&cursor=${enc(cursor)}` : ''}`),
      (g) => h('tr', { 'data-guid': g.guid },
        h('td', {}, h('a', { href: `#/tenants/${enc(appId)}/groups/${enc(g.guid)}` }, g.guid)),
        h('td', {}, badge(g.status)),
        h('td', {}, g.lastError ? `${g.lastError.code}: ${g.lastError.message}` : '—'),
        h('td', { class: 'num' }, g.virgilMemberCount),
        h('td', { class: 'num' }, g.pendingRegistrationCount),
        h('td', {}, age(g.unsyncedSince)),
        h('td', {}, when(g.updatedAt))),
      status === 'all' ? 'No group yet.' : `No ${status.replace('_', ' ')} group.`));
  }
  show('all');
  return h('section', { 'aria-labelledby': 'groups-heading' },
    h('h3', { id: 'groups-heading' }, 'Groups'),
    h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Show groups by status' }, h('span', {}, 'Show:'), buttons),
    box);
}

function auditTable(query) {
  return pagedTable(['Time', 'Actor', 'Action', 'Tenant', 'Group', 'Details'],
    (cursor) => api('GET', `/audit?limit=${PAGE}${query}${cursor ? `&cursor=${enc(cursor)}` : ''}`),
    (e) => h('tr', {},
      h('td', {}, when(e.occurredAt)), h('td', { class: 'mono' }, e.actor), h('td', {}, e.action),
      h('td', {}, e.tenantId ?? '—'), h('td', {}, e.guid ?? '—'),
      h('td', { class: 'mono' }, Object.keys(e.details).length ? JSON.stringify(e.details) : '—')),
    'No entry.');
}

async function tenantView(appId) {
  const summary = await api('GET', `/tenants/${enc(appId)}/summary`);
  main.replaceChildren(
    h('h2', {}, `Tenant ${appId}`),
    summaryFacts(summary),
    groupList(appId),
    h('section', { 'aria-labelledby': 'pending-heading' }, h('h3', { id: 'pending-heading' }, 'Users awaiting registration'),
      pagedTable(['User', { text: 'Groups waiting', num: true }],
        (cursor) => api('GET', `/tenants/${enc(appId)}/pending-users?limit=${PAGE}${cursor ? `&cursor=${enc(cursor)}` : ''}`),
        (u) => h('tr', {}, h('td', {}, u.uid), h('td', { class: 'num' }, u.groups)), 'Nobody.')),
    h('section', { 'aria-labelledby': 'deliveries-heading' }, h('h3', { id: 'deliveries-heading' }, 'Recent webhook deliveries'),
      pagedTable(['Received', 'Format', 'Trigger', 'Result', { text: 'Status', num: true }, 'Event id'],
        (cursor) => api('GET', `/tenants/${enc(appId)}/webhook-deliveries?limit=${PAGE}${cursor ? `&cursor=${enc(cursor)}` : ''}`),
        (d) => h('tr', {}, h('td', {}, when(d.receivedAt)), h('td', {}, d.format), h('td', {}, d.trigger ?? '—'), h('td', {}, d.result),
          h('td', { class: 'num' }, d.statusCode), h('td', { class: 'mono' }, d.eventId ?? '—')), 'None received recently.')),
    h('section', { 'aria-labelledby': 'audit-heading' }, h('h3', { id: 'audit-heading' }, 'Audit trail'), auditTable(`&appId=${enc(appId)}`)));
}

// ---------------------------------------------------------------- one group

function membersTable(group) {
  const uids = [...new Set([...group.desiredMembers, ...group.virgilMembers, ...group.pendingRegistration])].sort();
  const yes = (list, uid) => (list.includes(uid) ? 'yes' : '—');
  return table(['User', 'Desired', 'On Virgil', 'Awaiting registration'], uids.map((uid) => h('tr', {},
    h('td', {}, uid), h('td', {}, yes(group.desiredMembers, uid)), h('td', {}, yes(group.virgilMembers, uid)), h('td', {}, yes(group.pendingRegistration, uid)))),
  'No member.');
}

function groupDetail(group) {
  return h('div', { id: 'group-detail' },
    h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', { id: 'group-status' }, badge(group.status)),
      h('dt', {}, 'Virgil group id'), h('dd', { class: 'mono' }, group.identity),
      h('dt', {}, 'Last error'), h('dd', { id: 'group-error' }, group.lastError ? `${group.lastError.code}: ${group.lastError.message}` : 'none'),
      h('dt', {}, 'Updated'), h('dd', {}, when(group.updatedAt))),
    h('h3', {}, 'Members: desired and on Virgil'),
    membersTable(group));
}

async function groupView(appId, guid, current) {
  const path = `/tenants/${enc(appId)}/groups/${enc(guid)}`;
  let detail = groupDetail(await api('GET', path));
  const resync = h('button', { type: 'button', id: 'resync', class: 'primary', onclick: async () => {
    resync.disabled = true;
    try {
      await api('POST', `${path}/resync`);
      say(`Resync of ${guid} queued.`);
    } catch (err) {
      say(errorText(err));
    } finally {
      resync.disabled = false;
    }
  } }, 'Resync now');
  main.replaceChildren(
    h('p', {}, h('a', { href: `#/tenants/${enc(appId)}` }, `← Tenant ${appId}`)),
    h('h2', {}, `Group ${guid}`),
    h('div', { class: 'toolbar' }, resync, h('span', { class: 'hint' }, 'Reconciles the group with Virgil now. This page refreshes by itself.')),
    detail,
    h('section', {}, h('h3', {}, 'Audit trail'), auditTable(`&appId=${enc(appId)}&guid=${enc(guid)}`)));
  // Kept current while shown: a resync's outcome appears without reloading.
  refreshTimer = setInterval(async () => {
    if (current !== renderId) return;
    try {
      const fresh = groupDetail(await api('GET', path));
      if (current !== renderId) return;
      detail.replaceWith(fresh);
      detail = fresh;
    } catch { /* shown on the next successful refresh */ }
  }, GROUP_REFRESH_MS);
}

// ---------------------------------------------------------------- audit

function auditView() {
  const tenant = h('input', { id: 'audit-tenant', name: 'appId', autocomplete: 'off' });
  const results = h('div');
  const form = h('form', { class: 'toolbar', onsubmit: (event) => {
    event.preventDefault();
    results.replaceChildren(auditTable(tenant.value.trim() ? `&appId=${enc(tenant.value.trim())}` : ''));
  } }, h('label', { for: 'audit-tenant' }, 'Tenant (optional)'), tenant, h('button', { type: 'submit' }, 'Show'));
  results.replaceChildren(auditTable(''));
  main.replaceChildren(h('h2', {}, 'Audit trail'), form, results);
}

// ---------------------------------------------------------------- routing

const ROUTES = [
  [/^#\/tenants\/([^/]+)\/groups\/(.+)$/, (id, appId, guid) => groupView(decodeURIComponent(appId), decodeURIComponent(guid), id)],
  [/^#\/tenants\/([^/]+)$/, (_id, appId) => tenantView(decodeURIComponent(appId))],
  [/^#\/tenants$/, () => tenantsView()],
  [/^#\/onboard$/, () => onboardView()],
  [/^#\/audit$/, () => auditView()],
];

async function render() {
  clearInterval(refreshTimer);
  const id = ++renderId;
  if (!sessionStorage.getItem(TOKEN_KEY)) return signInView();
  nav.hidden = false;
  const hash = location.hash && location.hash !== '#/sign-in' ? location.hash : '#/tenants';
  const route = ROUTES.find(([pattern]) => pattern.test(hash));
  if (!route) {
    location.hash = '#/tenants';
    return;
  }
  try {
    await route[1](id, ...route[0].exec(hash).slice(1));
    main.querySelector('h2')?.setAttribute('tabindex', '-1');
    if (id === renderId) main.querySelector('h2')?.focus();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    main.replaceChildren(h('h2', {}, 'Something went wrong'), h('p', { class: 'error', role: 'alert' }, errorText(err)));
  }
}

document.getElementById('sign-out').addEventListener('click', () => signOut());
window.addEventListener('hashchange', render);
render();
