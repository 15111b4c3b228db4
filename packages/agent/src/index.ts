/** @outpost/agent: the device daemon's core, for the CLI entry, tests and the simulator. */
export { type AgentHandle, type AgentOptions, startAgent } from './agent.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export { createExecCapability } from './capabilities/exec.js';
export {
  type ActionHandler,
  action,
  type Capability,
  type CommandContext,
  createCapabilities,
  type OutputStream,
} from './capabilities/index.js';
export { createSystemCapability, systemInfo } from './capabilities/system.js';
export { loadPty, type Pty, PtyInput, type PtyModule } from './capabilities/terminal-pty.js';
export { type AgentConfig, agentConfig, ConfigError, ConfigFile, resolveConfig } from './config.js';
export { EnrollmentRejected } from './enroll.js';
export { collectFacts } from './facts.js';
export { CommandJournal, type JournalEntry, type JournalLimits } from './journal.js';
export { createLogger, type Logger, type LogLevel, silentLogger } from './log.js';
export { CommandRouter } from './router.js';
export { type Identity, readIdentity } from './state.js';
export { AgentStreams, acceptStream, type OpenStreamOptions } from './streams.js';
export { AGENT_VERSION } from './version.js';
