/** The pure parts of `outpost logs` and `outpost apps`: flags to query and body, and the human rendering. */
import type { api } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { describeExit, describeState, installArgs, renderApps } from './apps.js';
import { formatLine, logSource, logsQuery } from './logs.js';

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    return (err as Error).message;
  }
  throw new Error('no error');
}

describe('outpost logs flags', () => {
  it('picks one source, the agent by default', () => {
    expect(logSource({})).toBe('agent');
    expect(logSource({ app: 'sensor' })).toBe('app:sensor');
    expect(logSource({ unit: 'ssh.service' })).toBe('unit:ssh.service');
    expect(logSource({ file: '/var/log/syslog' })).toBe('file:/var/log/syslog');
    expect(usageError(() => logSource({ app: 'a', unit: 'b' }))).toMatch(/at most one of/);
    expect(usageError(() => logSource({ file: 'relative.log' }))).toMatch(/absolute path/);
    expect(usageError(() => logSource({ app: 'x;id' }))).toMatch(/not an app name/);
    expect(usageError(() => logSource({ unit: '-H' }))).toMatch(/not a systemd unit/);
  });

  it('builds the query, refusing combinations that mean nothing', () => {
    expect(logsQuery({ app: 'x', lines: 5, grep: 'err' })).toEqual({
      source: 'app:x',
      lines: 5,
      since: undefined,
      grep: 'err',
      level: undefined,
    });
    expect(logsQuery({ follow: true, lines: 0, maxDuration: 60 })).toMatchObject({
      follow: true,
      lines: 0,
      maxSeconds: 60,
    });
    expect(usageError(() => logsQuery({ lines: 0 }))).toMatch(/at least 1/);
    expect(usageError(() => logsQuery({ follow: true, lines: 1001 }))).toMatch(/at most 1000/);
    expect(usageError(() => logsQuery({ maxDuration: 60 }))).toMatch(/goes with -f/);
  });

  it('prints a line as its text, after its time with -t', () => {
    const line: api.LogLineView = { time: '2025-01-01T00:00:00.000Z', stream: 'stderr', text: 'boom' };
    expect(formatLine(line)).toBe('boom');
    expect(formatLine(line, true)).toBe('2025-01-01T00:00:00.000Z boom');
    expect(formatLine({ time: null, text: 'file line' }, true)).toBe('- file line');
  });
});

describe('outpost apps install flags', () => {
  it('makes a script install body, with args, env and options', () => {
    const body = installArgs(
      'sensor',
      ['--port', '80'],
      { script: 'x', interpreter: 'python3', env: ['A=1', 'HOME'], autostart: false, restart: 'on-failure' },
      'print(1)',
      { HOME: '/home/me' },
    );
    expect(body).toEqual({
      name: 'sensor',
      args: ['--port', '80'],
      env: { A: '1', HOME: '/home/me' },
      autostart: false,
      restart: 'on-failure',
      script: 'print(1)',
      interpreter: 'python3',
    });
  });

  it('makes a bundle install body', () => {
    expect(
      installArgs('web', [], { bundle: '/data/web.tgz', entry: './run.sh', replace: true }, undefined, {}),
    ).toEqual({ name: 'web', replace: true, bundle: '/data/web.tgz', entry: ['./run.sh'] });
  });

  it('refuses bad names and incomplete or mixed forms as usage errors', () => {
    expect(usageError(() => installArgs('x;id', [], { script: 'f', interpreter: 'sh' }, 'true', {}))).toMatch(
      /not an app name/,
    );
    expect(usageError(() => installArgs('x', [], { script: 'f' }, 'true', {}))).toMatch(/needs --interpreter/);
    expect(usageError(() => installArgs('x', [], { bundle: '/a.tgz' }, undefined, {}))).toMatch(/needs --entry/);
    expect(usageError(() => installArgs('x', [], {}, undefined, {}))).toMatch(/give --script/);
    expect(
      usageError(() => installArgs('x', [], { script: 'f', interpreter: 'sh', bundle: '/a' }, 'true', {})),
    ).toMatch(/does not go with/);
    expect(usageError(() => installArgs('x', [], { bundle: 'rel.tgz', entry: './r' }, undefined, {}))).toMatch(
      /bundle/,
    );
  });
});

describe('apps rendering', () => {
  const now = Date.parse('2025-01-01T12:00:00.000Z');
  const app: api.App = {
    name: 'sensor',
    state: 'running',
    pid: 812,
    restarts: 2,
    lastExit: { code: null, signal: 'SIGKILL', at: '2025-01-01T11:58:00.000Z' },
    lastError: null,
    startedAt: '2025-01-01T11:55:00.000Z',
    uptime: 300,
    nextStartAt: null,
    autostart: true,
    restart: 'always',
    kind: 'script',
    interpreter: 'python3',
    command: ['python3', '/x/app.py'],
    cwd: '/x',
    env: [],
    installedAt: '2025-01-01T10:00:00.000Z',
  };

  it('says how an app is doing in a few words', () => {
    expect(describeState(app, now)).toBe('running (pid 812, up 5m)');
    expect(describeState({ ...app, state: 'backoff', pid: null, nextStartAt: '2025-01-01T12:00:30.000Z' }, now)).toBe(
      'backoff (next start in 30s)',
    );
    expect(describeExit(app.lastExit, now)).toBe('killed by SIGKILL 2m ago');
    expect(describeExit({ code: 3, signal: null, at: '2025-01-01T12:00:00.000Z' }, now)).toBe('exit 3 just now');
    expect(describeExit(null, now)).toBe('-');
  });

  it('lists apps as a table', () => {
    expect(renderApps([app], now)).toBe(
      'NAME    STATE    PID  RESTARTS  UPTIME  LAST EXIT                 AUTOSTART  COMMAND\n' +
        'sensor  running  812  2         5m      killed by SIGKILL 2m ago  yes        python3 /x/app.py\n',
    );
  });
});
