/** `outpost-agent --help`: the flags, and the variables and config keys taken from the settings table. */
import { DEFAULT_HEARTBEAT_SECONDS } from '@outpost/protocol';
import { DEFAULT_CONFIG_FILE, DEFAULT_STATE_DIR, fields } from './config.js';
import { DEFAULT_FORWARD_ALLOW } from './forward-targets.js';
import { LOG_LEVELS } from './log.js';

export const USAGE = `Usage: outpost-agent [options]

Connects this device to an Outpost server and runs the commands it is sent.

Options:
  --server URL        broker URL: mqtts://host:8883 or wss://host:443/mqtt
                      (mqtt:// and ws:// only with --allow-insecure)
  --ca FILE           CA certificate that signs the server's TLS certificate
  --enroll TOKEN      enrollment token, used once when the device has no identity yet
                      (prefer OUTPOST_AGENT_ENROLL_TOKEN: flags are visible in ps)
  --auth MODE         how the device authenticates once enrolled: secret (default) or
                      certificate (a key made on the device, a certificate from the
                      server's CA; needs mqtts://). Used at enrollment only.
  --state-dir DIR     where the identity and command journal live (default ${DEFAULT_STATE_DIR})
  --config FILE       JSON config file (default ${DEFAULT_CONFIG_FILE})
  --heartbeat SECONDS telemetry interval (default ${DEFAULT_HEARTBEAT_SECONDS})
  --log-level LEVEL   ${LOG_LEVELS.join(', ')} (default info)
  --allow-insecure    allow plain-text mqtt:// and ws://
  --terminal-shell FILE
                      program remote terminals run (default: the user's login shell)
  --terminal-user NAME
                      user remote terminals run as (default: the agent's user; docs/terminal.md)
  --power-command FILE
                      program run as \`FILE reboot|shutdown\` by power actions
                      (default: systemctl, shutdown, reboot/poweroff; see docs/processes-services-power.md)
  --file-roots DIRS   directories file actions may touch, comma-separated
                      (default STATE_DIR/files,/tmp; see docs/files.md)
  --log-roots DIRS    directories whose files \`logs\` may read, comma-separated
                      (default /var/log,STATE_DIR/logs; see docs/apps-and-logs.md)
  --forward-allow RULES
                      port-forwarding targets, comma-separated HOST:PORT rules
                      (default ${DEFAULT_FORWARD_ALLOW.join(',')}; see docs/forward.md)
  --help              show this help
  --version           print the agent version

Environment (below flags, above the config file): ${fields.map((f) => f.env).join(', ')}, OUTPOST_AGENT_CONFIG.
Config file keys: ${fields.map((f) => f.key).join(', ')}.
`;
