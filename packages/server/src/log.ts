/** The server's structured logger (pino), with secrets redacted wherever they might appear. */
import { type Logger, pino } from 'pino';

export type { Logger };

export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.token',
  '*.secret',
  '*.password',
  'token',
  'secret',
  'password',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, base: { svc: 'outpost-server' }, redact: { paths: redactPaths, censor: '[redacted]' } },
    destination ?? process.stdout,
  );
}
