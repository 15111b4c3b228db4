/**
 * Prints the plain closing line CI reads: "Tests: N passed, N failed, N skipped".
 * A suite or file that failed outside any test (a throwing `beforeAll`, an import
 * error) leaves its tests skipped; it counts as one failure, so the line never
 * reads "0 failed" for a red run.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules) {
      let failedHere = 0;
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failedHere++;
        else skipped++;
      }
      for (const s of m.children.allSuites()) {
        const anyTestFailed = [...s.children.allTests()].some((t) => t.result().state === 'failed');
        if (s.state() === 'failed' && !anyTestFailed) failedHere++;
      }
      if (m.state() === 'failed' && failedHere === 0) failedHere++;
      failed += failedHere;
    }
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
