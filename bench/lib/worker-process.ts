/**
 * The group worker as the scale benchmark runs it: the real entry point (src/bin/worker.ts) in its
 * own process, under `ulimit -n <files>` (the shell sets the limit, then execs node), with a private
 * temporary folder (so the files it leaves there can be counted), with the node flags of
 * `npm run start:worker`, and its JSON log read line by line (warnings and errors are kept).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface WorkerProcess {
  pid: number;
  /** Warning and error lines (as received). */
  problems: string[];
  exited(): boolean;
  stop(): Promise<void>;
}

export interface ProcessSample { rssMiB: number; fds: number; openFilesLimit: number | null }

/** The node flags `npm run start:worker` gives the worker (its heap bounds), so the benchmark runs it as production does. */
export function workerNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  return pkg.scripts['start:worker']!.split(/\s+/).filter((word) => word.startsWith('--'));
}

export async function startWorkerProcess(env: Record<string, string>, opts: { openFiles: number }): Promise<WorkerProcess> {
  const script = fileURLToPath(new URL('../../src/bin/worker.ts', import.meta.url));
  // BENCH_CPU_PROF=<dir>: the worker writes a V8 CPU profile there when it stops.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child: ChildProcess = spawn('/bin/sh', ['-c', `ulimit -n ${opts.openFiles} && exec "$0" "$@"`, process.execPath, ...workerNodeFlags(), ...profile, '--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const problems: string[] = [];
  let buffered = '';
  const onLine = (line: string) => {
    let entry: { level?: number };
    try { entry = JSON.parse(line) as typeof entry; } catch { problems.push(line); return; }
    if ((entry.level ?? 0) >= 40 && problems.length < 1_000) problems.push(line);
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) if (line.trim()) onLine(line);
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) { process.stderr.write(`  [worker] ${line}\n`); problems.push(line); }
  });
  const worker: WorkerProcess = {
    pid: child.pid!,
    problems,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    stop: () => new Promise<void>((resolve) => {
      if (worker.exited()) return resolve();
      const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', () => { clearTimeout(kill); resolve(); });
      child.kill('SIGTERM');
    }),
  };
  return worker;
}

/** CPU time (user + system) a process has used so far, in milliseconds (Linux /proc; 100 ticks per second). */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces, in parentheses): utime is the 14th field, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Resident memory, open descriptors and the descriptor limit of a process (Linux /proc). */
export async function sampleProcess(pid: number): Promise<ProcessSample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  const limits = await readFile(`/proc/${pid}/limits`, 'utf8').catch(() => '');
  const limit = /Max open files\s+(\d+)/.exec(limits)?.[1];
  return { rssMiB: rssKiB / 1024, fds, openFilesLimit: limit ? Number(limit) : null };
}

/** Files and folders under `dir` (recursively), except tsx's compile cache (`tsx-*`), which the benchmark's loader writes. */
export async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  let n = 0;
  for (const entry of entries) {
    if (entry.name.startsWith('tsx-')) continue;
    n++;
    if (entry.isDirectory()) n += (await readdir(path.join(dir, entry.name), { recursive: true }).catch(() => [])).length;
  }
  return n;
}
