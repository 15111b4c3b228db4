/** The agent's own version, reported in status, facts and `system/info` (kept equal to package.json by a test). */
export const AGENT_VERSION = '0.1.0';
