#!/usr/bin/env node
// `npm run demo`: installs and builds what is missing, then runs `outpost demo` with signals forwarded.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function step(args, why) {
  process.stderr.write(`demo: ${why}: npm ${args.join(' ')}\n`);
  const r = spawnSync(npm, args, { cwd: root, stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`demo: cannot run npm: ${r.error.message}\n`);
    process.exit(1);
  }
  if (r.status !== 0) {
    process.stderr.write(`demo: npm ${args.join(' ')} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}

if (!existsSync(join(root, 'node_modules'))) step(['ci'], 'installing dependencies');
const built = ['packages/cli/dist/main.js', 'packages/agent/dist/outpost-agent.mjs'];
if (!built.every((f) => existsSync(join(root, f)))) step(['run', 'build'], 'building');

const child = spawn(
  process.execPath,
  [join(root, 'packages/cli/bin/outpost.js'), 'demo', '--data-dir', '.outpost-demo', ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
);
// Ctrl-C in a terminal reaches the child too; `outpost demo` stops once however many signals arrive.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
// `kill <npm pid>` stops npm's `sh -c` without passing the signal on; noticing the orphaning
// (our parent changes) stops the demo instead of leaving a server running.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) child.kill('SIGTERM');
}, 1000).unref();
child.on('exit', (code) => {
  process.exit(code ?? 1);
});
