// Build the dashboard's front-end (web/) into dist/src/web/assets/, where
// `memfail serve` reads it (under dist/src so that `npm pack` ships it):
// app.js and app.css bundled and minified by esbuild from web/src/main.ts
// (uPlot included: nothing is fetched from a CDN), and index.html copied.
// The sources are type-checked first with web/tsconfig.json (DOM types).
//
//   node scripts/bundle-web.mjs
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/src/web/assets');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

execFileSync(process.execPath, [tsc, '-p', join(root, 'web/tsconfig.json')], { stdio: 'inherit' });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(root, 'web/src/main.ts') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync(join(root, 'web/index.html'), join(out, 'index.html'));
