/**
 * The shared validator skips Ajv's run-time check of each schema against the JSON
 * Schema meta-schema (it would compile the meta-schema's own validator in every
 * agent and server process). This suite does that check instead, for every schema
 * the protocol exports.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { commands } from './commands.js';
import * as protocol from './index.js';

const isSchema = (v: unknown): v is TSchema => typeof v === 'object' && v !== null && Kind in v;

/** Every TypeBox schema exported by @outpost/protocol, including the HTTP API's and the catalogue's. */
function exportedSchemas(): [string, TSchema][] {
  const out: [string, TSchema][] = [];
  const add = (prefix: string, module: Record<string, unknown>) => {
    for (const [name, value] of Object.entries(module)) if (isSchema(value)) out.push([`${prefix}${name}`, value]);
  };
  add('', protocol as Record<string, unknown>);
  add('api.', protocol.api as Record<string, unknown>);
  for (const [name, spec] of Object.entries(commands)) {
    out.push([`${name} args`, spec.args], [`${name} result`, spec.result]);
  }
  return out;
}

describe('validate', () => {
  const all = exportedSchemas();

  it('finds the exported schemas', () => {
    expect(all.length).toBeGreaterThan(100);
    expect(all.map(([n]) => n)).toEqual(expect.arrayContaining(['CommandRequest', 'system/ping args']));
  });

  it.each(all)('%s is a valid JSON Schema (draft-07)', (_name, schema) => {
    const ajv = new Ajv({ strict: false });
    expect(ajv.validateSchema(JSON.parse(JSON.stringify(schema)) as object), JSON.stringify(ajv.errors)).toBe(true);
  });
});
