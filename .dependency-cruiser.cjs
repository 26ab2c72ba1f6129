/**
 * Architecture rules for src/, checked by `npm run deps` (dependency-cruiser) in CI after the typecheck.
 *
 * Layers, highest first. A folder under src/ may import itself and any folder LOWER in this list,
 * never a higher one. src/http/emulator (the emulator's HTTP face) belongs to `http`.
 * `webhooks` and `reconcile` are siblings: neither may import the other. The order matches the
 * README's layer table.
 * Type-only imports count too (tsPreCompilationDeps), so a layer cannot lean on a higher one's types.
 */
const LAYERS = [
  'bin', // entry points; may import anything
  'http', // Fastify apps, plugins, routes, src/http/emulator, src/http/demo
  'demo', // the development demo chat: page (browser), relay standing in for the chat platform, esbuild bundling
  'reconcile', // queue, requester implementation, processor, worker (built from app's context)
  'webhooks', // platform adapters, intake
  'app', // the context the HTTP apps and the worker are built from
  'imports', // snapshot imports (NDJSON, CometChat) and drift repair, applied through groups
  'groups', // group events, desired state, repositories, outbox sweeper, pending registrations
  'emulator', // Virgil Cloud emulator model, no HTTP
  'auth', // caller tokens, verified against a tenant's runtime settings
  'tenants',
  'audit', // the audit trail: admin actions and the worker's changes on Virgil
  'config', // imports crypto (type MasterKey), virgil (VIRGIL_CLOUD_URL) and cometchat (its URL template), so it sits above them
  'cometchat', // CometChat REST client (groups, members, auth tokens), pacing and retries; imports only lib
  'virgil',
  'twilio', // Twilio's protocols: Access Tokens, request signatures, the Conversations REST client
  'crypto',
  'db',
  'metrics', // the process's Prometheus registry and the service's metric definitions (prom-client only)
  'local', // loopback servers for development, tests and benchmarks (embedded PostgreSQL, redis-server)
  'lib',
  'client', // the client library (e2ee-extension/client), bundled for browsers: imports nothing else from src (and only the demo page imports it)
];

const layerRules = LAYERS.slice(1).map((layer, i) => ({
  name: `layer-${layer}`,
  comment: `src/${layer} may only import itself and lower layers (${LAYERS.slice(i + 2).join(', ') || 'none'}); not ${LAYERS.slice(0, i + 1).join(', ')}.`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${LAYERS.slice(0, i + 1).join('|')})/` },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'File-level import cycles are not allowed (type-only imports included).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'fastify-only-in-http',
      comment: 'Only src/http/ may import fastify, fastify-plugin or @fastify/*.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/http/' },
      to: { path: '(^|/)node_modules/(fastify|fastify-plugin|@fastify/[^/]+)/' },
    },
    {
      name: 'reconcile-not-webhooks',
      comment: 'webhooks and reconcile are siblings: reconcile may not import webhooks.',
      severity: 'error',
      from: { path: '^src/reconcile/' },
      to: { path: '^src/webhooks/' },
    },
    ...layerRules, // webhooks -> reconcile is caught by layer-webhooks (reconcile is higher)
    {
      name: 'client-only-for-pages',
      comment: 'The service does not use the client library; only browser code (the demo page) imports it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(client|demo/page)/' },
      to: { path: '^src/client/' },
    },
    {
      name: 'client-for-browsers',
      comment: 'src/client runs in browsers and has no dependencies: no Node built-in modules, no packages (E3Kit is passed in).',
      severity: 'error',
      from: { path: '^src/client/' },
      to: { dependencyTypesNot: ['local'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import must resolve (catches a broken .js -> .ts mapping, which would hide edges).',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
      extensions: ['.ts', '.js', '.json'],
    },
    reporterOptions: {
      archi: { collapsePattern: '^src/[^/]+' },
      dot: { collapsePattern: 'node_modules/(@[^/]+/[^/]+|[^/]+)' },
    },
  },
};
