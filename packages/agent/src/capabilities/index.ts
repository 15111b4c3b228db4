/**
 * The capability registry: the one list of what this agent can do. Adding a
 * capability means one module here and one entry in the protocol's catalogue.
 */
import { AppSupervisor } from '../apps/supervisor.js';
import { createAppsCapability } from './apps.js';
import type { Capability } from './capability.js';
import { createExecCapability } from './exec.js';
import { createFilesCapability } from './files.js';
import { createForwardCapability } from './forward.js';
import { createLogsCapability } from './logs.js';
import { createMetricsCapability } from './metrics.js';
import { createPowerCapability } from './power.js';
import { createProcessesCapability } from './processes.js';
import { createServicesCapability } from './services.js';
import { createSystemCapability } from './system.js';
import { createTerminalCapability } from './terminal.js';

export type { ActionHandler, Capability, CapabilityHost, CommandContext, OutputStream } from './capability.js';
export { action, CommandCancelled, isCancelled } from './capability.js';

/** Fresh instances (each keeps its own state, e.g. exec's running count) for one agent. */
export function createCapabilities(): Capability[] {
  // One supervisor: `apps` runs the apps, `logs` reads their output rings.
  const apps = new AppSupervisor();
  return [
    createAppsCapability(apps),
    createLogsCapability(apps),
    createExecCapability(),
    createSystemCapability(),
    createMetricsCapability(),
    createFilesCapability(),
    createProcessesCapability(),
    createServicesCapability(),
    createPowerCapability(),
    createTerminalCapability(),
    createForwardCapability(),
  ];
}
