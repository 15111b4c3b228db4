/**
 * The capability registry: the one list of what this agent can do. Adding a
 * capability means one module here and one entry in the protocol's catalogue.
 */
import type { Capability } from './capability.js';
import { createExecCapability } from './exec.js';
import { createSystemCapability } from './system.js';

export type { ActionHandler, Capability, CommandContext, OutputStream } from './capability.js';
export { action } from './capability.js';

/** Fresh instances (each keeps its own state, e.g. exec's running count) for one agent. */
export function createCapabilities(): Capability[] {
  return [createExecCapability(), createSystemCapability()];
}
