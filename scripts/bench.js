#!/usr/bin/env node
// `npm run bench` (after `npm run build`): runs the benchmarks of packages/simulator with signals forwarded.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../packages/simulator/dist/bench/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('bench: packages/simulator is not built; run npm run build first\n');
  process.exit(1);
}
const child = spawn(process.execPath, [main, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal ? 1 : 0));
});
