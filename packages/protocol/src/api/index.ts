/** The HTTP API's request and response schemas, one module per route family (exported as `api`). */
export * from './api-tokens.js';
export * from './audit.js';
export * from './auth.js';
export * from './commands.js';
export * from './common.js';
export * from './devices.js';
export * from './enrollment.js';
export * from './health.js';
export * from './users.js';
