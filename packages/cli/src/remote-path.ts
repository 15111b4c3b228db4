/** Device paths on the command line (`DEVICE:/absolute/path`) and octal modes, for the file commands. */
import { InvalidArgumentError } from 'commander';
import { usage } from './parse.js';

export interface RemotePath {
  device: string;
  path: string;
}

/** Splits `DEVICE:/path` at the first `:/`; anything else is a usage error. */
export function parseRemote(spec: string): RemotePath {
  const i = spec.indexOf(':/');
  if (i <= 0) throw usage(`'${spec}' is not DEVICE:/absolute/path`);
  return { device: spec.slice(0, i), path: spec.slice(i + 1) };
}

/** True when the argument names a device path (`DEVICE:/...`) rather than a local one. */
export function isRemote(spec: string): boolean {
  return /^[^/:][^/]*:\//.test(spec);
}

/** `755`, `0644` → the mode bits. */
export function modeOption(value: string): number {
  if (!/^0?[0-7]{3,4}$/.test(value.trim())) throw new InvalidArgumentError('must be an octal mode such as 644 or 0755');
  return Number.parseInt(value.trim(), 8);
}
