/**
 * A checkout inside a private (0700) folder, such as a clone under /root or in `mktemp -d`: as
 * root, PostgreSQL runs as the `postgres` OS user, which cannot reach anything in there. Both
 * `npm run dev` and the test runner's server start-up must still work. The working files (tracked
 * and untracked, so uncommitted changes are tested too) are copied into the private folder, with
 * node_modules hard-linked so its binaries live inside the private folder as well.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { PG_HOME } from '../../src/local/embedded-postgres.js';
import { freePort } from '../../src/local/free-port.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** A safety net only: the waits end on the process's own output or exit. */
const SAFETY_TIMEOUT_MS = 120_000;

function clusterOf(dir: string): string {
  return path.join(PG_HOME, 'clusters', createHash('sha256').update(path.resolve(dir)).digest('hex'));
}

async function privateCheckout(): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'e2ee-private-'));
  const checkout = path.join(root, 'e2ee-extension');
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  for (const file of new Set(listed.stdout.split('\0').filter(Boolean))) {
    // Tracked files deleted in the working tree are listed too.
    if (!existsSync(path.join(repo, file))) continue;
    await mkdir(path.dirname(path.join(checkout, file)), { recursive: true });
    await copyFile(path.join(repo, file), path.join(checkout, file));
  }
  // Hard links are instant; a plain copy when the temporary folder is on another file system.
  const linked = spawnSync('cp', ['-al', path.join(repo, 'node_modules'), path.join(checkout, 'node_modules')]);
  if (linked.status !== 0) {
    const copied = spawnSync('cp', ['-a', path.join(repo, 'node_modules'), path.join(checkout, 'node_modules')], { encoding: 'utf8' });
    if (copied.status !== 0) throw new Error(`copying node_modules failed: ${copied.stderr}`);
  }
  return root;
}

interface Child { process: ChildProcess; output: () => string; exited: Promise<number | null> }

function run(cwd: string, args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd,
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { process: child, output: () => out, exited };
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'VIRGIL_API_URL', 'ADMIN_TOKENS', 'MASTER_KEYS', 'DATA_DIR', 'TMPDIR']) delete env[name];
  return env;
}

/** Resolves once `pattern` is printed; rejects if the process exits first. */
function printed(child: Child, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { clearInterval(check); reject(new Error(`nothing matching ${pattern} within ${SAFETY_TIMEOUT_MS} ms:\n${child.output()}`)); }, SAFETY_TIMEOUT_MS);
    const check = setInterval(() => {
      if (pattern.test(child.output())) { clearInterval(check); clearTimeout(timer); resolve(); }
      else if (child.process.exitCode !== null) { clearInterval(check); clearTimeout(timer); reject(new Error(`exited with ${child.process.exitCode}:\n${child.output()}`)); }
    }, 50);
  });
}

function exitCode(child: Child): Promise<number | null> {
  return Promise.race([
    child.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`did not exit:\n${child.output()}`)), SAFETY_TIMEOUT_MS).unref()),
  ]);
}

t.test('npm run dev and the test servers start from a checkout in a private folder', async (t) => {
  const root = await privateCheckout();
  const checkout = path.join(root, 'e2ee-extension');
  const dataDir = path.join(root, 'data');
  const children: Child[] = [];
  t.teardown(async () => {
    for (const child of children) if (child.process.exitCode === null) { child.process.kill('SIGKILL'); await child.exited; }
    await rm(root, { recursive: true, force: true });
    // Where a root run keeps the dev cluster the postgres user could not have in the data folder.
    const cluster = clusterOf(path.join(dataDir, 'postgres'));
    await rm(cluster, { recursive: true, force: true });
    await rm(`${cluster}.origin`, { force: true });
  });
  t.equal((await stat(root)).mode & 0o777, 0o700, 'the checkout sits in a 0700 folder');
  if (userInfo().uid !== 0) t.comment('not root: PostgreSQL runs as this user, so nothing is out of its reach');

  await t.test('npm run dev', async (t) => {
    const dev = run(checkout, ['src/bin/dev.ts'], {
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      DATA_DIR: dataDir,
      PORT: '0',
      EMULATOR_PORT: String(await freePort()),
      EMBEDDED_PG_PORT: String(await freePort()),
    });
    children.push(dev);
    await printed(dev, /Authorization: Bearer/);
    const apiUrl = /API\s+(http:\/\/\S+)\/v1/.exec(dev.output())![1];
    const res = await fetch(`${apiUrl}/health`);
    t.equal(res.status, 200, 'GET /health answers');
    dev.process.kill('SIGTERM');
    t.equal(await exitCode(dev), 0, 'SIGTERM stops it cleanly', { output: dev.output().slice(-4000) });
  });

  // The start-up of `npm test` (test/run.ts), with the default and with a private TMPDIR: the
  // throwaway cluster's folder, and initdb's password file, then sit in a private folder too.
  for (const [name, tmp] of [['default TMPDIR', null], ['private TMPDIR', path.join(root, 'tmp')]] as const) {
    await t.test(`test servers, ${name}`, async (t) => {
      if (tmp) await mkdir(tmp, { recursive: true, mode: 0o700 });
      const script = [
        "import pg from 'pg';",
        "import { startThrowawayPostgres as startTestPostgres } from './src/local/embedded-postgres.js';",
        'const server = await startTestPostgres();',
        'const client = new pg.Client({ connectionString: server.url });',
        'await client.connect();',
        "const { rows } = await client.query('select 1 as one');",
        'await client.end();',
        'await server.stop();',
        'console.log(`selected ${rows[0].one} in ${server.dir}`);',
      ].join('\n');
      const child = run(checkout, ['--input-type=module', '-e', script], tmp ? { TMPDIR: tmp } : {});
      children.push(child);
      const code = await exitCode(child);
      t.equal(code, 0, 'started, queried and stopped', { output: child.output().slice(-4000) });
      const selected = /selected 1 in (\S+)/.exec(child.output());
      t.ok(selected, 'select 1 answered');
      if (selected) t.notOk(existsSync(clusterOf(selected[1])), 'the throwaway cluster is removed on stop');
    });
  }
});
