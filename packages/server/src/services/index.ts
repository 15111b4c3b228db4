/** The server's services, built once and handed to routes and the broker. */
import type { ApiTokenService } from './api-tokens.js';
import type { AuditService } from './audit.js';
import type { CommandService } from './commands.js';
import type { DeviceService } from './devices.js';
import type { EnrollmentService } from './enrollment.js';
import type { ForwardService } from './forwards.js';
import type { MetricsService } from './metrics.js';
import type { ScriptService } from './scripts.js';
import type { SessionPolicy, SessionService } from './sessions.js';
import type { StreamService } from './streams.js';
import type { TerminalService } from './terminal.js';
import type { UserService } from './users.js';

export interface Services {
  tokens: ApiTokenService;
  users: UserService;
  sessions: SessionService;
  sessionPolicy: SessionPolicy;
  audit: AuditService;
  devices: DeviceService;
  enrollment: EnrollmentService;
  commands: CommandService;
  metrics: MetricsService;
  /** Byte streams to devices: terminals, port forwards, file transfers (docs/protocol.md §Byte streams). */
  streams: StreamService;
  /** Terminal sessions: relay, audit, recordings (docs/terminal.md). */
  terminal: TerminalService;
  /** Port forwards: one stream per TCP connection, relayed and audited (docs/forward.md). */
  forwards: ForwardService;
  scripts: ScriptService;
  /** Where devices connect, as advertised by /health (filled in once the listeners are up). */
  endpoints: { mqttUrl: string; wsUrl: string | null };
}
