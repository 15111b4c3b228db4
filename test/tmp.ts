/** Temp dirs for tests, removed after each test file by test/setup.ts (keep them with OUTPOST_TEST_KEEP=1). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tempDirs: string[] = [];

export function removeTempDirs(): void {
  if (process.env.OUTPOST_TEST_KEEP) return;
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function tempDir(prefix = 'outpost-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}
