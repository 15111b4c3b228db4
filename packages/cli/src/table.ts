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

/** A device scope (tags a device needs one of) in words: `all devices`, `devices tagged lab`. */
export function scope(tags: readonly string[] | null | undefined): string {
  if (!tags || tags.length === 0) return 'all devices';
  return tags.length === 1 ? `devices tagged ${tags[0]}` : `devices tagged any of ${tags.join(', ')}`;
}

/** Several scopes that all apply (a user's and their token's): `devices tagged lab and tagged pi`. */
export function scopes(lists: readonly (readonly string[])[] | null | undefined): string {
  const limiting = (lists ?? []).filter((l) => l.length > 0);
  if (limiting.length === 0) return 'all devices';
  return limiting.map((l, i) => (i === 0 ? scope(l) : scope(l).replace(/^devices /, ''))).join(' and ');
}
