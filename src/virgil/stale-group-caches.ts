/**
 * Group-cache folders that earlier versions of the worker left in the temp folder.
 *
 * Those versions gave every service identity a LevelDB folder under `e2ee-group-cache-*` and
 * removed them only on a graceful stop, so every crash leaked one folder per tenant touched. The
 * worker now keeps E3Kit's group copies in memory (group-store.ts) and writes no folder, and on
 * start removes the leftovers: a folder is removed when no LevelDB inside it is open (LevelDB holds
 * a POSIX lock on its `LOCK` file while open, and Linux lists every such lock in /proc/locks) and
 * it has not changed for a minute. Where /proc/locks cannot be read, nothing is removed.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PREFIX = 'e2ee-group-cache-';

/** Inodes of files under a POSIX lock now, or null when the system does not say. */
async function lockedInodes(): Promise<Set<number> | null> {
  let text: string;
  try {
    text = await readFile('/proc/locks', 'utf8');
  } catch {
    return null;
  }
  // "1: POSIX  ADVISORY  WRITE 623 fe:00:4274227 0 EOF" — the inode is the last part of field 6.
  const inodes = new Set<number>();
  for (const line of text.split('\n')) {
    const device = line.trim().split(/\s+/)[5];
    const inode = device?.split(':')[2];
    if (inode && /^\d+$/.test(inode)) inodes.add(Number(inode));
  }
  return inodes;
}

async function inUse(folder: string, locked: Set<number>): Promise<boolean> {
  const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const lock = await stat(path.join(folder, entry.name, 'LOCK')).catch(() => null);
    if (lock && locked.has(lock.ino)) return true;
  }
  return false;
}

/** Removes stale group-cache folders in `dir`; returns how many. */
export async function removeStaleGroupCaches(opts: { dir?: string; unchangedForMs?: number; now?: () => number } = {}): Promise<number> {
  const dir = opts.dir ?? tmpdir();
  const unchangedForMs = opts.unchangedForMs ?? 60_000;
  const now = (opts.now ?? Date.now)();
  const candidates = (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory() && e.name.startsWith(PREFIX));
  if (candidates.length === 0) return 0;
  const locked = await lockedInodes();
  if (!locked) return 0;
  let removed = 0;
  for (const candidate of candidates) {
    const folder = path.join(dir, candidate.name);
    const info = await stat(folder).catch(() => null);
    if (!info || now - info.mtimeMs < unchangedForMs || await inUse(folder, locked)) continue;
    await rm(folder, { recursive: true, force: true }).then(() => { removed++; }, () => {});
  }
  return removed;
}
