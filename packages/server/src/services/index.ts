/** The server's services, built once and handed to routes and the broker. */
import type { ApiTokenService } from './api-tokens.js';
import type { AuditService } from './audit.js';
import type { CommandService } from './commands.js';
import type { DeviceService } from './devices.js';
import type { EnrollmentService } from './enrollment.js';
import type { SessionPolicy, SessionService } from './sessions.js';
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
  /** Where devices connect, as advertised by /health (filled in once the listeners are up). */
  endpoints: { mqttUrl: string; wsUrl: string | null };
}
