/**
 * @outpost/protocol: the wire contract shared by agent, server, CLI and web, and
 * the HTTP API's schemas (`api`). Pure: no I/O.
 */

export * as api from './api/index.js';
export * from './capabilities/apps.js';
export * from './capabilities/command.js';
export * from './capabilities/exec.js';
export * from './capabilities/files.js';
export * from './capabilities/forward.js';
export * from './capabilities/logs.js';
export * from './capabilities/metrics.js';
export * from './capabilities/power.js';
export * from './capabilities/processes.js';
export * from './capabilities/services.js';
export * from './capabilities/system.js';
export * from './capabilities/terminal.js';
export * from './commands.js';
export * from './envelope.js';
export * from './errors.js';
export * from './stream.js';
export * from './stream-duplex.js';
export * from './topics.js';
export * from './validate.js';
export * from './version.js';
