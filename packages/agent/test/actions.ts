/**
 * Driving one capability action in a unit test the way the router does: args
 * validated against the catalogue first, the result checked against its schema;
 * and catching the coded error an action is expected to throw.
 */
import { type CommandName, check, commands, OutpostError, parse } from '@outpost/protocol';
import { expect } from 'vitest';
import type { Capability, CommandContext } from '../src/capabilities/capability.js';

export async function runAction(
  cap: Capability,
  command: CommandName,
  args: unknown,
  ctx: CommandContext,
  // biome-ignore lint/suspicious/noExplicitAny: each test reads the result's fields for its own action.
): Promise<any> {
  const spec = commands[command];
  const name = command.split('/')[1] as string;
  const handler = cap.actions[name];
  if (!handler) throw new Error(`${command} missing`);
  const result = await handler(parse(spec.args, args, 'args'), ctx);
  expect(check(spec.result, result), 'result matches the protocol schema').toBe(true);
  return result;
}

/** The OutpostError `promise` rejects with; the test fails if it resolves or rejects with anything else. */
export async function failure(promise: Promise<unknown>): Promise<OutpostError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OutpostError);
  return err as OutpostError;
}
