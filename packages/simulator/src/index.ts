/** @outpost/simulator: virtual devices for load tests, benchmarks and demos. */
export { type AgentFleet, type AgentFleetOptions, simulatedCapabilities, startAgentFleet } from './agents.js';
export { SIM_AGENT_VERSION, simFacts, simSystemInfo, simulateExec } from './backends.js';
export {
  type CommandContext,
  type CommandHandler,
  type DeviceCredentials,
  defaultHandlers,
  enrollDevice,
  type LinkTarget,
  SimDevice,
  type SimDeviceOptions,
} from './device.js';
export {
  type ConnectFleetOptions,
  connectFleet,
  type EnrollFleetOptions,
  enrollFleet,
  type Fleet,
  startFleet,
} from './fleet.js';
export { mapLimit, sleep } from './pool.js';
export { median, quantile, type Summary, summarize } from './stats.js';
