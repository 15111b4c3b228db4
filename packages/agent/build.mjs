/**
 * Bundles the agent into one file, `dist/outpost-agent.mjs` (ESM, Node 18+), so a
 * device needs only `node` and this file (a source map is written beside it, for
 * debugging only). Fails if the bundle would import anything at run time besides
 * Node's built-in modules, or would not be one-byte text.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

// CommonJS dependencies call require(): give the ESM bundle one.
const banner = [
  '#!/usr/bin/env node',
  "import { createRequire as __outpostCreateRequire } from 'node:module';",
  'const require = __outpostCreateRequire(import.meta.url);',
].join('\n');

/**
 * Optional modules that dependencies try to load inside try/catch (ws: bufferutil,
 * utf-8-validate; debug: supports-color). Bundled as a module that throws when
 * loaded, so the dependency takes its plain path and nothing is resolved at run time.
 */
const OPTIONAL_MODULES = ['bufferutil', 'utf-8-validate', 'supports-color'];
const optionalModules = {
  name: 'optional-modules',
  setup(b) {
    const filter = new RegExp(`^(${OPTIONAL_MODULES.join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'optional-module' }));
    b.onLoad({ filter: /.*/, namespace: 'optional-module' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not bundled`)});`,
      loader: 'js',
    }));
  },
};

const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/**
 * Native modules stay outside the bundle and are loaded lazily at run time, next to the
 * bundle or from the system's node_modules; without them the capability answers
 * E_UNSUPPORTED (node-pty: terminals; docs/terminal.md, docs/decisions.md).
 */
const NATIVE_MODULES = ['node-pty'];

/**
 * V8 stores a source text with any character above U+00FF as two bytes per character, which
 * would double the bundle's resident copy. esbuild escapes such characters everywhere except
 * in regular-expression literals, so one there fails the build with where it is.
 */
function assertOneByteText(file) {
  const text = readFileSync(file, 'utf8');
  const at = text.search(/[\u0100-\u{10ffff}]/u);
  if (at === -1) return;
  const context = text.slice(Math.max(0, at - 60), at + 20);
  throw new Error(
    `bundle has a character above U+00FF (write it as a \\uXXXX escape in the source, e.g. in a regular expression): …${context}…`,
  );
}

/** Builds the bundle; returns its path. */
export async function buildAgent({ outfile = join(here, 'dist', 'outpost-agent.mjs') } = {}) {
  mkdirSync(dirname(outfile), { recursive: true });
  const result = await build({
    entryPoints: [join(here, 'src', 'main.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node18',
    banner: { js: banner },
    // The protocol package from source: the bundle never depends on a stale dist/.
    alias: { '@outpost/protocol': join(here, '..', 'protocol', 'src', 'index.ts') },
    plugins: [optionalModules],
    external: NATIVE_MODULES,
    // Minified, because V8 keeps the whole source text in the heap for as long as the agent
    // runs: 0.8 MB instead of 1.7 MB (docs/decisions.md, "The agent's footprint"). keepNames
    // keeps function and class names in logged errors; the linked source map (not loaded
    // unless node runs with --enable-source-maps) maps stack traces back to src/.
    minify: true,
    keepNames: true,
    sourcemap: 'linked',
    // ASCII escapes for every non-ASCII character esbuild can escape (strings, templates).
    charset: 'ascii',
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const output = result.metafile.outputs[Object.keys(result.metafile.outputs).find((o) => o.endsWith('.mjs')) ?? ''];
  const foreign = (output?.imports ?? [])
    .filter((i) => i.external && !builtins.has(i.path) && !NATIVE_MODULES.includes(i.path))
    .map((i) => i.path);
  if (foreign.length > 0) throw new Error(`bundle imports non-builtin modules at run time: ${foreign.join(', ')}`);
  assertOneByteText(outfile);
  chmodSync(outfile, 0o755);
  return outfile;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = await buildAgent();
  console.log(`built ${out}`);
}
