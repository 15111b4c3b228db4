/**
 * Bundles the agent into one file, `dist/outpost-agent.mjs` (ESM, Node 18+), so a
 * device needs only `node` and this file. Fails if the bundle would import
 * anything at run time besides Node's built-in modules.
 */
import { chmodSync, mkdirSync } from 'node:fs';
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
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const output = result.metafile.outputs[Object.keys(result.metafile.outputs)[0]];
  const foreign = (output?.imports ?? []).filter((i) => i.external && !builtins.has(i.path)).map((i) => i.path);
  if (foreign.length > 0) throw new Error(`bundle imports non-builtin modules at run time: ${foreign.join(', ')}`);
  chmodSync(outfile, 0o755);
  return outfile;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = await buildAgent();
  console.log(`built ${out}`);
}
