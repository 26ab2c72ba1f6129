/**
 * The demo chat's HTML and CSS. The script is the bundle of page/demo-chat.ts; its settings travel
 * in a JSON block (data, never executed), so the page runs under a CSP without inline scripts.
 */

export interface DemoPageConfig {
  appId: string;
  /** e2ee-extension's base URL; empty: the page's own origin. */
  apiUrl: string;
  /** Virgil's base URL for E3Kit (the emulator); empty: Virgil Cloud. */
  virgilApiUrl: string;
  /** Base URL of the relay (the stand-in chat platform). */
  relayUrl: string;
  users: readonly string[];
  /** How often the page asks the relay for news. */
  pollMs: number;
}

const escapeJsonForHtml = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

export function demoPageHtml(config: DemoPageConfig, paths: { script: string; css: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>e2ee-extension demo chat</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${paths.css}">
<script type="application/json" id="demo-config">${escapeJsonForHtml(config)}</script>
<script type="module" src="${paths.script}"></script>
</head>
<body>
<header>
  <h1>e2ee-extension demo chat</h1>
  <p class="note">Development only. Messages are encrypted with E3Kit in this page and relayed as ciphertext by a
  stand-in chat platform; the service keeps the Virgil groups equal to the platform's membership.</p>
</header>
<section id="login">
  <h2>Pick a user</h2>
  <p>Each user is best opened in its own browser window or profile (each one is a device with its own key store).</p>
  <div id="users"></div>
</section>
<main id="app" hidden>
  <aside>
    <p id="me" data-state="connecting">Connecting…</p>
    <h2>Groups</h2>
    <ul id="groups"></ul>
    <form id="create-group">
      <h3>New group</h3>
      <label>Name <input name="name" required maxlength="60" placeholder="Hiking"></label>
      <fieldset id="new-members"><legend>Members</legend></fieldset>
      <button type="submit">Create group</button>
    </form>
  </aside>
  <section id="chat">
    <h2 id="chat-title">No group selected</h2>
    <p id="group-status"></p>
    <div id="members"></div>
    <ol id="messages"></ol>
    <form id="compose" hidden>
      <input name="text" required maxlength="2000" autocomplete="off" placeholder="Message (encrypted before it leaves this page)">
      <button type="submit">Send encrypted</button>
    </form>
    <p id="status" role="status"></p>
  </section>
  <section id="stored">
    <h2>What the chat platform stores</h2>
    <p class="note">The relay's records for this group, exactly as stored: ciphertext only. e2ee-extension itself stores
    memberships and identities, never messages.</p>
    <table><thead><tr><th>#</th><th>sender</th><th>sent at</th><th>ciphertext</th></tr></thead><tbody id="stored-rows"></tbody></table>
  </section>
</main>
</body>
</html>
`;
}

export const DEMO_CSS = `
body { font: 15px/1.4 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f4f6f8; }
header { padding: 12px 20px; background: #233142; color: #fff; }
header h1 { margin: 0; font-size: 20px; }
h2 { font-size: 17px; margin: 4px 0 8px; } h3 { font-size: 15px; }
.note { color: #5b6773; font-size: 13px; }
header .note { color: #c9d3dd; margin: 4px 0 0; }
#login, main { padding: 16px 20px; }
#users button { font-size: 16px; margin-right: 8px; padding: 8px 18px; }
main { display: grid; grid-template-columns: 240px 1fr 1fr; gap: 16px; }
main[hidden] { display: none; }
aside, #chat, #stored { background: #fff; border-radius: 6px; padding: 12px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
#groups { list-style: none; padding: 0; }
#groups li { padding: 6px 8px; cursor: pointer; border-radius: 4px; }
#groups li.selected { background: #dfe9f5; }
#groups li.removed { color: #a33; }
#messages { list-style: none; padding: 0; min-height: 120px; }
#messages li { margin: 6px 0; padding: 6px 10px; border-radius: 6px; background: #eef3f7; }
#messages li[data-state="failed"] { background: #fbeaea; color: #a33; }
#messages .sender { font-weight: 600; margin-right: 6px; }
#compose { display: flex; gap: 8px; }
#compose[hidden] { display: none; }
#compose input { flex: 1; padding: 6px; }
#members button { margin-left: 4px; font-size: 12px; }
#stored table { width: 100%; border-collapse: collapse; font-size: 12px; table-layout: fixed; }
#stored td, #stored th { border-bottom: 1px solid #e3e7eb; padding: 4px; text-align: left; vertical-align: top; }
#stored td.ciphertext { font-family: ui-monospace, monospace; word-break: break-all; color: #5b6773; }
#stored th:nth-child(1) { width: 28px; } #stored th:nth-child(2) { width: 50px; } #stored th:nth-child(3) { width: 70px; }
#status { color: #5b6773; min-height: 1.4em; }
#status.error { color: #a33; }
`;
