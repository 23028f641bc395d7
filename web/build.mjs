// Builds the dashboard into dist/: one hashed JS bundle and one hashed CSS file under
// assets/ (served as immutable), index.html naming them (served no-cache), and a .br
// and .gz beside every text file so the server sends them compressed without
// compressing per request. `node build.mjs --watch` rebuilds on change (WEB_DIR=web/dist).
import { build, context } from 'esbuild';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('.', import.meta.url).pathname;
const dist = join(root, 'dist');
const watch = process.argv.includes('--watch');

const options = {
  entryPoints: { app: join(root, 'src/main.tsx') },
  bundle: true,
  minify: !watch,
  sourcemap: watch ? 'inline' : false,
  format: 'esm',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
};

function finish(result) {
  const outputs = Object.keys(result.metafile.outputs).map((p) => relative(dist, join(root, p)));
  const js = outputs.find((p) => p.endsWith('.js'));
  const css = outputs.find((p) => p.endsWith('.css'));
  const html = readFileSync(join(root, 'index.html'), 'utf8')
    .replace('%APP_JS%', `/${js}`)
    .replace('%APP_CSS%', `/${css}`);
  writeFileSync(join(dist, 'index.html'), html);
  writeFileSync(join(dist, 'favicon.svg'), readFileSync(join(root, 'favicon.svg')));
  copyGraphiql();
  compressAll(dist);
}

// The GraphQL playground (/graphql/playground) is GraphiQL, served by the server from
// these files rather than from a CDN: its UMD build and the React 18 UMD builds it runs on.
const GRAPHIQL = {
  'graphiql.min.js': 'graphiql/graphiql.min.js',
  'graphiql.min.css': 'graphiql/graphiql.min.css',
  'react.production.min.js': 'react/umd/react.production.min.js',
  'react-dom.production.min.js': 'react-dom/umd/react-dom.production.min.js',
};

function copyGraphiql() {
  const out = join(dist, 'graphiql');
  mkdirSync(out, { recursive: true });
  for (const [name, from] of Object.entries(GRAPHIQL)) {
    writeFileSync(join(out, name), readFileSync(join(root, 'node_modules', from)));
  }
  for (const name of ['index.html', 'init.js']) {
    writeFileSync(join(out, name), readFileSync(join(root, 'graphiql', name)));
  }
}

function compressAll(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      compressAll(path);
    } else if (/\.(js|css|html|svg|json)$/.test(name)) {
      const body = readFileSync(path);
      const br = brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
      writeFileSync(`${path}.br`, br);
      writeFileSync(`${path}.gz`, gzipSync(body, { level: 9 }));
    }
  }
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'assets'), { recursive: true });
if (watch) {
  const ctx = await context({
    ...options,
    plugins: [{ name: 'finish', setup: (b) => b.onEnd((r) => r.errors.length || finish(r)) }],
  });
  await ctx.watch();
  console.log('watching web/src; serve with WEB_DIR=web/dist');
} else {
  finish(await build(options));
}
