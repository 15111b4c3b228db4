/** Plain-text rendering for people: aligned tables and `key  value` blocks, no colours, no trailing spaces. */

/** Display width of a string: code points, so names with accents or emoji count once each. */
function width(s: string): number {
  return [...s].length;
}

/** Renders a header and rows as columns separated by two spaces; cells are single-line. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const clean = (cell: string | undefined) => (cell ?? '').replace(/[\r\n\t]+/g, ' ');
  const all = [header.map(clean), ...rows.map((r) => header.map((_, i) => clean(r[i])))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => width(r[i] ?? ''))));
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - width(cell))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** Renders `[label, value]` pairs with aligned values; empty values show as `-`. */
export function renderFields(fields: readonly (readonly [string, string | null | undefined])[], indent = ''): string {
  const w = Math.max(...fields.map(([k]) => width(k)));
  return fields
    .map(([k, v]) => `${indent}${k}${' '.repeat(w - width(k))}  ${v === null || v === undefined || v === '' ? '-' : v}`)
    .join('\n')
    .concat('\n');
}

/** `a, b` for lists, `-` for none. */
export function list(values: readonly string[] | null | undefined): string {
  return values && values.length > 0 ? values.join(', ') : '-';
}
