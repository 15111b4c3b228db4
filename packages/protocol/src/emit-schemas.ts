/** Writes every envelope and command schema as JSON Schema files, for agents written in other languages. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commands } from './commands.js';
import * as envelope from './envelope.js';

const out = process.argv[2] ?? 'schemas';
mkdirSync(out, { recursive: true });
const write = (name: string, schema: unknown): void => {
  writeFileSync(join(out, `${name}.schema.json`), `${JSON.stringify({ $id: name, ...(schema as object) }, null, 2)}\n`);
};
for (const [name, value] of Object.entries(envelope)) {
  if (
    (typeof value === 'object' && value !== null && 'type' in value) ||
    (typeof value === 'object' && value !== null && 'anyOf' in value)
  )
    write(`envelope.${name}`, value);
}
for (const [name, s] of Object.entries(commands)) {
  const base = name.replace('/', '.');
  write(`${base}.args`, s.args);
  write(`${base}.result`, s.result);
}
console.log(`wrote JSON Schemas to ${out}`);
