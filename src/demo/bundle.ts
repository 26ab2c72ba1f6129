/**
 * Bundles a browser entry (the demo page, or a test page) with esbuild, in memory: the script and
 * E3Kit's two WASM files.
 *
 * `@virgilsecurity/e3kit-browser`'s ES entry imports its WASM files as modules
 * (`import foundationWasm from './dist/libfoundation.browser.wasm'`) and hands the result to
 * Emscripten as a URL. So the bundler must emit `.wasm` files as assets and import their URL (the
 * `file` loader), not compile them as WebAssembly modules, which is what breaks Vite and webpack
 * setups (see the README's bundling notes). The files must be served as `application/wasm`.
 *
 * Development and tests only: esbuild is a development dependency, loaded when first needed.
 */
import path from 'node:path';

export interface BrowserAsset {
  contentType: string;
  body: Uint8Array;
}

export interface BrowserBundle {
  /** Path of the entry script under `publicPath`. */
  script: string;
  /** Every output by its URL path (`<publicPath>/<file>`). */
  assets: Map<string, BrowserAsset>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
};

/** `publicPath`: the URL folder the assets are served from, e.g. `/demo/assets`. */
export async function bundleForBrowser(entry: string, publicPath: string): Promise<BrowserBundle> {
  const esbuild = await import('esbuild');
  const outdir = path.join(path.dirname(entry), '.bundle');
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    write: false,
    outdir,
    publicPath,
    entryNames: '[name]',
    assetNames: '[name]-[hash]',
    loader: { '.wasm': 'file' },
    logLevel: 'silent',
  });
  const assets = new Map<string, BrowserAsset>();
  for (const file of result.outputFiles) {
    const name = path.relative(outdir, file.path).split(path.sep).join('/');
    assets.set(`${publicPath}/${name}`, { contentType: CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream', body: file.contents });
  }
  const script = `${publicPath}/${path.basename(entry).replace(/\.[cm]?[jt]s$/, '.js')}`;
  if (!assets.has(script)) throw new Error(`esbuild produced no ${script}`);
  return { script, assets };
}
