/** @outpost/server: `startServer` and the pieces tests and the CLI need. */

export { canPublish, canSubscribe, type Principal } from './broker/acl.js';
export { defaultConfig, loadConfig, type ServerConfig, type ServerOptions } from './config.js';
export { type OutpostServer, startServer } from './server.js';
export { VERSION } from './version.js';
