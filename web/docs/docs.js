// The API reference: the OpenAPI document rendered as a plain list, operation by operation, grouped
// by tag. The public part comes from /openapi.json; with the admin token (entered here or by the
// console in this tab) the whole document comes from /admin/openapi.json. Text only, no markup
// from the document is ever interpreted.

const TOKEN_KEY = 'e2ee-admin-token';
const main = document.getElementById('main');
const statusLine = document.getElementById('status');

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined && value !== null) el.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
  return el;
}

const json = (value) => h('pre', {}, JSON.stringify(value, null, 2));

function parameters(op) {
  const params = op.parameters ?? [];
  if (params.length === 0) return null;
  return h('table', {},
    h('thead', {}, h('tr', {}, ['Name', 'In', 'Required', 'Schema'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, params.map((p) => h('tr', {}, h('td', { class: 'mono' }, p.name), h('td', {}, p.in), h('td', {}, p.required ? 'yes' : 'no'),
      h('td', { class: 'mono' }, JSON.stringify(p.schema ?? {}))))));
}

function operation(path, method, op) {
  const body = op.requestBody?.content?.['application/json']?.schema;
  const security = (op.security ?? []).flatMap((s) => Object.keys(s)).join(' + ');
  return h('details', { class: 'op', id: `${method}-${path}` },
    h('summary', {}, h('span', { class: 'method' }, method.toUpperCase()), ' ', h('code', {}, path), op.description ? ` — ${op.description}` : ''),
    security ? h('p', {}, 'Authentication: ', h('code', {}, security)) : h('p', {}, 'No authentication.'),
    parameters(op),
    body ? [h('h4', {}, 'Request body'), json(body)] : null,
    h('h4', {}, 'Responses'),
    Object.entries(op.responses ?? {}).map(([status, res]) => [
      h('p', {}, h('strong', {}, status), res.description ? ` ${res.description}` : ''),
      Object.values(res.content ?? {})[0]?.schema ? json(Object.values(res.content)[0].schema) : null,
    ]));
}

function render(doc, whole) {
  const byTag = new Map();
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = op.tags?.[0] ?? 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, op));
    }
  }
  const tags = doc.tags ?? [];
  const order = [...tags.map((t) => t.name), ...[...byTag.keys()].filter((k) => !tags.some((t) => t.name === k))];
  main.replaceChildren(
    h('p', {}, doc.info?.description ?? '', ` Version ${doc.info?.version ?? '?'}.`, whole ? ' Including the admin API.' : ''),
    ...order.filter((tag) => byTag.has(tag)).map((tag) => h('section', { 'data-tag': tag },
      h('h2', {}, tag), h('p', { class: 'hint' }, tags.find((t) => t.name === tag)?.description ?? ''), byTag.get(tag))));
}

async function load() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    const res = await fetch('/admin/openapi.json', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
    if (res.ok) {
      statusLine.textContent = '';
      return render(await res.json(), true);
    }
    sessionStorage.removeItem(TOKEN_KEY);
    statusLine.textContent = res.status === 401 ? 'That admin token was refused; showing the public API.' : `The admin document could not be read (HTTP ${res.status}).`;
  }
  const res = await fetch('/openapi.json', { cache: 'no-store' });
  render(await res.json(), false);
}

document.getElementById('admin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('admin-token');
  if (input.value.trim()) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = '';
  load();
});
load().catch((err) => { main.replaceChildren(h('p', { class: 'error', role: 'alert' }, `The document could not be loaded: ${err.message}`)); });
