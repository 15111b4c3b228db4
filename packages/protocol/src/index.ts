/**
 * @outpost/protocol: the wire contract shared by agent, server, CLI and web, and
 * the HTTP API's schemas (`api`). Pure: no I/O.
 */

export * as api from './api/index.js';
export * from './capabilities/exec.js';
export * from './capabilities/system.js';
export * from './commands.js';
export * from './envelope.js';
export * from './errors.js';
export * from './topics.js';
export * from './validate.js';
export * from './version.js';
