/** The results table: plain aligned text for the terminal, or Markdown for docs/benchmarks.md. */

export interface Row {
  measure: string;
  value: string;
  baseline: string;
  ratio: string;
  goal: string;
  met: string;
}

/** A row that informs: a value and what it is measured against, no ratio and no goal. */
export const infoRow = (measure: string, value: string, baseline: string): Row => ({
  measure,
  value,
  baseline,
  ratio: '',
  goal: '',
  met: '',
});

/**
 * A ratio as `1.23×`; with a third decimal when two would read as the goal itself while the
 * goal is missed (1.5036 against ≤ 1.5 reads `1.504×`, not `1.50×` beside a NO).
 */
export function ratioText(x: number, goal?: number): string {
  const two = x.toFixed(2);
  return goal !== undefined && x > goal && Number(two) <= goal ? `${x.toFixed(3)}×` : `${two}×`;
}

const HEADER: Row = {
  measure: 'measure',
  value: 'value',
  baseline: 'baseline',
  ratio: 'ratio',
  goal: 'goal',
  met: 'met?',
};
const COLUMNS = Object.keys(HEADER) as (keyof Row)[];

export function renderText(rows: readonly Row[]): string {
  const all = [HEADER, ...rows];
  const width = (c: keyof Row) => Math.max(...all.map((r) => r[c].length));
  const line = (r: Row) =>
    COLUMNS.map((c) => r[c].padEnd(width(c)))
      .join('  ')
      .trimEnd();
  const rule = COLUMNS.map((c) => '-'.repeat(width(c))).join('  ');
  return [line(HEADER), rule, ...rows.map(line)].join('\n');
}

export function renderMarkdown(rows: readonly Row[]): string {
  const line = (r: Row) => `| ${COLUMNS.map((c) => r[c].replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(HEADER), `|${COLUMNS.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}
