/** The server's services, built once and handed to routes and the broker. */
import type { ApiTokenService } from './api-tokens.js';
import type { CommandService } from './commands.js';
import type { DeviceService } from './devices.js';
import type { EnrollmentService } from './enrollment.js';

export interface Services {
  tokens: ApiTokenService;
  devices: DeviceService;
  enrollment: EnrollmentService;
  commands: CommandService;
}
