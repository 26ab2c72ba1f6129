/**
 * `npm run dev` as a user runs it: one process with embedded PostgreSQL and the emulator, a demo
 * tenant, the printed curl working, the demo chat served; stopped with SIGTERM and started again on the same data folder,
 * it keeps the tenant and the same identities.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { freePort } from '../../src/local/free-port.js';
import { waitFor } from '../helpers/wait.js';

interface DevRun { output: () => string; apiUrl: string; token: string; stop(): Promise<number | null> }

async function startDev(env: Record<string, string>): Promise<DevRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/dev.ts'], {
    env: { ...process.env, ...env, NODE_ENV: 'development', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Waits for the printed line (or an exit); 180 s is only a safety net for a slow machine, not a budget.
  const state = await waitFor(() => (out.includes('Authorization: Bearer') ? 'ready' : child.exitCode !== null ? 'exited' : undefined),
    'dev to print its curl', 180_000).catch((err: Error) => { throw new Error(`dev did not start (${err.message}):\n${out}`); });
  if (state === 'exited') throw new Error(`dev exited:\n${out}`);
  const apiUrl = /API\s+(http:\/\/\S+)\/v1/.exec(out)![1];
  const token = /Authorization: Bearer ([\w.-]+)/.exec(out)![1];
  return {
    output: () => out, apiUrl, token,
    async stop() { child.kill('SIGTERM'); return exited; },
  };
}

t.test('npm run dev starts everything, answers, stops cleanly and restarts on its data', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'e2ee-dev-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env = { DATA_DIR: dataDir, PORT: '0', EMULATOR_PORT: String(await freePort()), EMBEDDED_PG_PORT: String(await freePort()) };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'VIRGIL_API_URL', 'ADMIN_TOKENS', 'MASTER_KEYS']) delete process.env[name];

  const identities: string[] = [];
  for (const run of ['first start', 'restart']) {
    const dev = await startDev(env);
    t.match(dev.output(), /Queue\s+BullMQ on PostgreSQL/, `${run}: queue on PostgreSQL`);
    t.match(dev.output(), /embedded emulator/, `${run}: emulator`);
    const res = await fetch(`${dev.apiUrl}//v1/virgil-jwt`, { headers: { appId: 'demo', authorization: `Bearer ${dev.token}` } });
    t.equal(res.status, 200, `${run}: the printed curl works`);
    const body = await res.json() as { data: { identity: string; virgilToken: string } };
    identities.push(body.data.identity);
    if (run === 'first start') {
      const page = await fetch(`${dev.apiUrl}/demo`);
      t.equal(page.status, 200, 'the demo chat is served at /demo');
      t.match(page.headers.get('content-security-policy'), /script-src 'self' 'wasm-unsafe-eval'/, 'under its own CSP');
      const script = /src="(\/demo\/assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
      t.equal((await fetch(`${dev.apiUrl}${script}`)).status, 200, 'with its bundle');
      const token = await fetch(`${dev.apiUrl}/demo/relay/token?uid=alice`);
      t.equal(token.status, 200, 'its relay gives the page a caller token');
      t.equal(token.headers.get('access-control-allow-origin'), null, 'to its own pages only (no CORS)');
    }
    const code = await dev.stop();
    const output = { output: dev.output().slice(-4000) };
    t.equal(code, 0, `${run}: SIGTERM stops it cleanly`, output);
    // PostgreSQL is stopped last, after the pools: no connection is cut under a running query.
    t.notMatch(dev.output(), /terminating connection|second error/, `${run}: the database outlives its users`, output);
    if (run === 'restart') t.notMatch(dev.output(), /demo tenant onboarded/, 'the demo tenant was kept');
  }
  t.equal(identities[0], identities[1], 'identities are stable across restarts');
});
