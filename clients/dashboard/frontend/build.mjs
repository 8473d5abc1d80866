// Builds the dashboard page into ../static (or the folder given as the first argument):
// app.js and app.css bundled by esbuild (Leaflet, topojson-client, our code), index.html, and
// the offline basemap, Natural Earth 1:50m countries from the world-atlas package.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, '..', 'static'));
mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: [join(here, 'src', 'main.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  outfile: join(out, 'app.js'),
  loader: { '.png': 'dataurl', '.svg': 'dataurl' },
  legalComments: 'eof',
  logLevel: 'warning',
});
copyFileSync(join(here, 'src', 'index.html'), join(out, 'index.html'));
copyFileSync(join(here, 'node_modules', 'world-atlas', 'countries-50m.json'), join(out, 'world-50m.json'));
console.log(`built the dashboard page into ${out}`);
