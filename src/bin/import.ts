/**
 * `npm run import -- --tenant acme groups.ndjson`: uploads an NDJSON file of group snapshots to
 * the admin API in parts and shows the import's progress until it ends.
 *
 *   --tenant <appId>     the tenant (required)
 *   <file>               one snapshot a line (see the README); or:
 *   --cometchat          import every group of the tenant's CometChat app instead of a file
 *   --resume <importId>  continue an upload that was cut off, or watch an import again
 *   --part-bytes <n>     bytes per request (default 8 MiB): a part is received whole or not at all
 *   --no-wait            print the import id and exit once the upload is done
 *
 * Reads E2EE_ADMIN_URL (default http://127.0.0.1:$PORT/admin) and E2EE_ADMIN_TOKEN (default the
 * first of ADMIN_TOKENS). The file is read a part at a time, never whole. A part that fails (network,
 * 5xx, the API restarting) is sent again from the byte the server reports it has. Progress goes to
 * stderr (a bar on a terminal, a line every 10% otherwise); the final state is printed to stdout as
 * JSON. Exit code 0 when the import completed, 1 otherwise.
 */
import { open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadImportCommandConfig } from '../config/config.js';
import { loadEnvFileIfPresent } from '../config/env-file.js';
import { exitOnStartupError } from './fatal.js';

interface ImportView {
  id: string; status: string; waitingForWorker: boolean;
  upload: { receivedBytes: number; receivedLines: number; complete: boolean } | null;
  progress: { processed: number; total: number | null; groupsApplied: number; groupsChanged: number; groupsCreated: number };
  errors: { count: number; items: Array<{ line: number | null; guid: string | null; code: string; message: string }> };
  lastError: { code: string; message: string } | null;
}

class ApiFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: Record<string, unknown>) {
    super(message);
  }
}

const MiB = 1024 * 1024;
const ATTEMPTS = 6;

function progressBar(fraction: number, width = 30): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%`;
}

/** One status line, redrawn in place on a terminal; otherwise printed every 10%. */
function reporter() {
  const tty = process.stderr.isTTY;
  let lastDecile = -1;
  return {
    show(fraction: number, text: string) {
      if (tty) {
        process.stderr.write(`\r\x1b[2K${progressBar(fraction)} ${text}`);
        return;
      }
      const decile = Math.floor(fraction * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        process.stderr.write(`${progressBar(fraction)} ${text}\n`);
      }
    },
    done() {
      if (tty) process.stderr.write('\n');
      lastDecile = -1;
    },
  };
}

async function main() {
  const { values, positionals } = parseArgs({
    options: {
      tenant: { type: 'string' }, resume: { type: 'string' }, 'part-bytes': { type: 'string' },
      cometchat: { type: 'boolean' }, 'no-wait': { type: 'boolean' },
    },
    allowPositionals: true,
  });
  const tenant = values.tenant;
  const file = positionals[0];
  if (!tenant || (!file && !values.cometchat && !values.resume)) {
    console.error('usage: npm run import -- --tenant <appId> <file.ndjson> | --cometchat | --resume <importId> [--part-bytes n] [--no-wait]');
    process.exit(2);
  }
  const partBytes = values['part-bytes'] ? Number(values['part-bytes']) : 8 * MiB;
  if (!Number.isInteger(partBytes) || partBytes < 1024) throw new Error('--part-bytes must be a whole number of at least 1024');

  loadEnvFileIfPresent();
  const config = loadImportCommandConfig(process.env);
  const base = `${config.adminUrl}/v1/tenants/${encodeURIComponent(tenant)}/imports`;

  async function call(method: string, url: string, body?: Buffer | string, contentType?: string): Promise<ImportView> {
    const res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${config.adminToken}`, ...(contentType ? { 'content-type': contentType } : {}) },
      ...(body !== undefined ? { body } : {}),
    });
    const json = await res.json().catch(() => null) as { data?: ImportView; error?: { code: string; message: string; details?: Record<string, unknown> } } | null;
    if (!res.ok || !json?.data) throw new ApiFailure(res.status, json?.error?.code ?? 'HTTP_ERROR', json?.error?.message ?? `HTTP ${res.status}`, json?.error?.details);
    return json.data;
  }
  const retryable = (err: unknown) => !(err instanceof ApiFailure) || err.status >= 500 || err.status === 429 || err.code === 'IMPORT_OFFSET_MISMATCH';
  const ui = reporter();

  let view: ImportView;
  if (values.cometchat) {
    view = await call('POST', base, JSON.stringify({ source: 'cometchat' }), 'application/json');
    console.error(`import ${view.id}: every group of ${tenant}'s CometChat app`);
  } else {
    view = values.resume ? await call('GET', `${base}/${values.resume}`) : (null as unknown as ImportView);
    if (file && (!view || !view.upload?.complete)) view = await upload(file, view);
  }

  async function upload(path: string, resumed: ImportView | null): Promise<ImportView> {
    const handle = await open(path, 'r');
    try {
      const size = (await handle.stat()).size;
      const buffer = Buffer.alloc(Math.min(partBytes, Math.max(size, 1)));
      let current = resumed;
      let offset = current?.upload?.receivedBytes ?? 0;
      for (let attempt = 1; ;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
        const complete = offset + bytesRead >= size;
        const part = buffer.subarray(0, bytesRead);
        try {
          current = current === null
            ? await call('POST', `${base}?complete=${complete}`, part, 'application/x-ndjson')
            : await call('POST', `${base}/${current.id}/parts?offset=${offset}&complete=${complete}`, part, 'application/x-ndjson');
          if (attempt === 1 && offset === 0) console.error(`import ${current.id}: uploading ${path} (${(size / MiB).toFixed(1)} MiB)`);
          attempt = 1;
          offset = current.upload!.receivedBytes;
          ui.show(size === 0 ? 1 : offset / size, `uploaded ${(offset / MiB).toFixed(1)} of ${(size / MiB).toFixed(1)} MiB`);
          if (complete) {
            ui.done();
            return current;
          }
        } catch (err) {
          if (!retryable(err) || attempt >= ATTEMPTS) throw err;
          await sleep(500 * 2 ** (attempt - 1));
          attempt++;
          // Ask where the server got to: the part may have been received although the answer was lost.
          if (current !== null) {
            current = await call('GET', `${base}/${current.id}`).catch(() => current);
            offset = current!.upload!.receivedBytes;
            if (current!.upload!.complete) return current!;
          }
        }
      }
    } finally {
      await handle.close();
    }
  }

  if (values['no-wait']) {
    console.log(JSON.stringify(view));
    return 0;
  }
  for (let failures = 0; ;) {
    try {
      view = await call('GET', `${base}/${view.id}`);
      failures = 0;
    } catch (err) {
      if (!retryable(err) || ++failures >= ATTEMPTS) throw err;
    }
    const { progress: p } = view;
    const fraction = p.total ? p.processed / p.total : view.status === 'completed' ? 1 : 0;
    const total = p.total === null ? '' : `/${p.total}`;
    ui.show(fraction, `${view.status} ${p.processed}${total} · groups ${p.groupsApplied} applied, ${p.groupsChanged} changed · errors ${view.errors.count}`
      + (view.waitingForWorker ? ' · waiting for the worker' : '') + (view.lastError ? ` · ${view.lastError.code}` : ''));
    if (view.status === 'completed' || view.status === 'failed') break;
    await sleep(500);
  }
  ui.done();
  for (const e of view.errors.items.slice(0, 20)) console.error(`  ${e.line !== null ? `line ${e.line}` : e.guid ?? ''}: ${e.code} ${e.message}`);
  if (view.errors.count > 20) console.error(`  … ${view.errors.count - 20} more (GET …/imports/${view.id}?errors=1000)`);
  console.log(JSON.stringify(view));
  return view.status === 'completed' ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (err) {
  if (err instanceof ApiFailure) {
    console.error(`import failed: ${err.status} ${err.code}: ${err.message}`);
    process.exit(1);
  }
  exitOnStartupError(err);
}
