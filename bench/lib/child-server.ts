/**
 * Runs a server under test in its own process (so it has a core to itself while autocannon runs in
 * this one). Readiness: either the child reports `{ ready: port }` over IPC, or, for a real entry
 * point that knows nothing of the benchmark, a health URL on a port chosen here answers 200. The
 * child's stderr is forwarded so crashes and warnings are never hidden.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ChildServer {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Poll `http://127.0.0.1:<port><path>` instead of waiting for an IPC message. */
  health?: { port: number; path: string };
  timeoutMs?: number;
}

async function waitForHealth(url: string, child: ChildProcess, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited during start (code ${child.exitCode})`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer 200 in time`);
}

export async function startChildServer(name: string, script: URL, env: Record<string, string>, opts: StartOptions = {}): Promise<ChildServer> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const child: ChildProcess = fork(fileURLToPath(script), [], {
    // BENCH_CPU_PROF=<dir>: every server writes a V8 CPU profile there when it stops.
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) process.stderr.write(`  [${name}] ${line}\n`);
  });
  const stop = () => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    child.kill('SIGTERM');
  });
  try {
    let port: number;
    if (opts.health) {
      port = opts.health.port;
      await waitForHealth(`http://127.0.0.1:${port}${opts.health.path}`, child, Date.now() + timeoutMs);
    } else {
      port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`did not start within ${timeoutMs} ms`)), timeoutMs);
        child.on('message', (msg: { ready?: number; error?: string }) => {
          if (msg.ready) { clearTimeout(timer); resolve(msg.ready); }
          if (msg.error) { clearTimeout(timer); reject(new Error(msg.error)); }
        });
        child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited during start (code ${code})`)); });
      });
    }
    return { name, url: `http://127.0.0.1:${port}`, pid: child.pid!, stop };
  } catch (err) {
    await stop();
    throw new Error(`${name} failed to start: ${(err as Error).message}`);
  }
}

/** For the child side: report the listening port, or a start failure, to the parent. */
export function reportReady(port: number): void {
  process.send?.({ ready: port });
}

export function reportStartFailure(err: unknown): never {
  process.send?.({ error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
