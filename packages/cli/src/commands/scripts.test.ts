/** `outpost scripts ...` through main() against a stub API: what each command line sends, prints and exits with. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test/tmp.js';
import { runCli } from '../../test/run-cli.js';
import {
  apiError,
  chunk,
  command,
  device,
  type Handler,
  json,
  type StubApi,
  sse,
  stubApi,
} from '../../test/stub-api.js';
import { parseParamSpec, parseParamValues, parseScriptRef, renderScript } from './scripts.js';

let api: StubApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function outpost(handler: Handler, args: string[], stdin?: string) {
  api = await stubApi(handler);
  return runCli(api.url, args, stdin === undefined ? {} : { stdin });
}

const script = (overrides: Record<string, unknown> = {}) => ({
  name: 'probe',
  version: 2,
  description: 'checks a host',
  interpreter: 'python3',
  params: [{ name: 'host', type: 'string', required: true }],
  sha256: 'ab'.repeat(32),
  size: 12,
  content: 'print("hi")\n',
  createdAt: '2025-01-01T00:00:00.000Z',
  createdBy: 'user:alice',
  updatedAt: '2025-01-02T00:00:00.000Z',
  updatedBy: 'user:bob',
  ...overrides,
});

describe('parameter specs', () => {
  it('reads name:type[:required][=default]', () => {
    expect(parseParamSpec('host')).toEqual({ name: 'host', type: 'string', required: false });
    expect(parseParamSpec('keep:integer=7')).toEqual({ name: 'keep', type: 'integer', required: false, default: '7' });
    expect(parseParamSpec('host:string:required')).toEqual({ name: 'host', type: 'string', required: true });
    expect(parseParamSpec('sep:string=a=b:c')).toMatchObject({ default: 'a=b:c' });
    for (const bad of ['1host', 'host:float', 'host:string:maybe', 'a:string:required:x', '']) {
      expect(() => parseParamSpec(bad), bad).toThrow(/--param/);
    }
  });

  it('reads run values NAME=VALUE, keeping = in values and refusing repeats', () => {
    expect(parseParamValues(['host=a=b', 'n=', 'x=; rm -rf /'])).toEqual({ host: 'a=b', n: '', x: '; rm -rf /' });
    expect(() => parseParamValues(['host'])).toThrow('--param host: expected NAME=VALUE');
    expect(() => parseParamValues(['a=1', 'a=2'])).toThrow('--param a is given twice');
  });
});

describe('script references', () => {
  it('reads NAME or NAME@VERSION, refusing what the server would', () => {
    expect(parseScriptRef('rotate-logs')).toEqual({ name: 'rotate-logs' });
    expect(parseScriptRef('probe.v2@12')).toEqual({ name: 'probe.v2', version: 12 });
    for (const bad of ['probe@0', 'probe@x', 'probe@', '@2', 'Probe', 'a;rm', '../etc', 'probe@99999999999']) {
      expect(() => parseScriptRef(bad), bad).toThrow();
    }
  });
});

describe('scripts create / edit', () => {
  it('sends the file, the interpreter and the declared parameters', async () => {
    const file = join(tempDir(), 'probe.py');
    writeFileSync(file, 'print("hi")\n');
    const r = await outpost(
      (req, res) => json(res, 201, script({ version: 1, ...(req.body as object) })),
      ['scripts', 'create', 'probe', '--file', file, '--interpreter', 'python3', '--param', 'host:string:required'],
    );
    expect(r).toMatchObject({ code: 0, stdout: 'created script probe version 1 (python3, 12 bytes)\n' });
    expect(api?.requests[0]).toMatchObject({
      method: 'POST',
      path: '/scripts',
      body: {
        name: 'probe',
        interpreter: 'python3',
        content: 'print("hi")\n',
        params: [{ name: 'host', type: 'string', required: true }],
      },
    });
  });

  it('refuses a bad name, a missing interpreter or an unknown one before calling the server', async () => {
    const file = join(tempDir(), 'x.sh');
    writeFileSync(file, 'true');
    for (const args of [
      ['scripts', 'create', 'a;rm', '--file', file, '--interpreter', 'sh'],
      ['scripts', 'create', 'ok', '--file', file],
      ['scripts', 'create', 'ok', '--file', file, '--interpreter', 'perl'],
    ]) {
      const r = await outpost((_req, res) => json(res, 500, {}), args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(api?.requests).toEqual([]);
      await api?.close();
    }
  });

  it('edit reads stdin for --file - and says when nothing changed', async () => {
    const r = await outpost(
      (req, res) => json(res, 200, script(req.method === 'PUT' ? { content: (req.body as any).content } : {})),
      ['scripts', 'edit', 'probe', '--file', '-'],
      'print("new")\n',
    );
    expect(r).toMatchObject({ code: 0, stdout: 'script probe unchanged (still version 2)\n' });
    expect(api?.requests[1]).toMatchObject({
      method: 'PUT',
      path: '/scripts/probe',
      body: { content: 'print("new")\n' },
    });
    const none = await outpost((_req, res) => json(res, 200, script()), ['scripts', 'edit', 'probe']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('nothing to change');
  });
});

describe('scripts show', () => {
  it('prints the fields, the parameters and the text; --raw only the text', async () => {
    const shown = renderScript(script() as never, 2, Date.parse('2025-01-03T00:00:00.000Z'));
    expect(shown).toContain('interpreter  python3\n');
    expect(shown).toContain('updated      2025-01-02T00:00:00.000Z (1d ago) by user:bob\n');
    expect(shown).toMatch(/parameters:\nNAME +TYPE +REQUIRED.*\nhost +string +yes/);
    expect(shown.endsWith('--- content ---\nprint("hi")\n')).toBe(true);
    const raw = await outpost((_req, res) => json(res, 200, script()), ['scripts', 'show', 'probe', '--raw']);
    expect(raw).toEqual({ code: 0, stdout: 'print("hi")\n', stderr: '' });
  });
});

describe('scripts run', () => {
  const runServer: Handler = (req, res) => {
    if (req.method === 'POST') return json(res, 202, command());
    if (req.path === '/commands/c-1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      sse(res, 'output', chunk(0, 'stdout', 'pinging\n'));
      sse(res, 'output', chunk(1, 'stderr', 'unreachable\n'));
      const result = {
        exitCode: 7,
        signal: null,
        stdout: '',
        stderr: '',
        truncated: false,
        timedOut: false,
        durationMs: 3,
      };
      sse(res, 'end', command({ status: 'succeeded', result }));
      return void res.end();
    }
    if (req.path === '/devices/d-1') return json(res, 200, device());
    return apiError(res, 404, 'E_NOT_FOUND', 'no');
  };

  it('sends version, params and timeout, streams the output and exits with the remote code', async () => {
    const r = await outpost(runServer, [
      ...['scripts', 'run', 'probe@1', 'gw-1', '--param', 'host=10.0.0.1'],
      ...['--param', 'count=3', '--timeout', '2m', '--ttl', '10m'],
    ]);
    expect(r).toEqual({ code: 7, stdout: 'pinging\n', stderr: 'unreachable\n' });
    expect(api?.requests[0]).toMatchObject({
      method: 'POST',
      path: '/devices/gw-1/scripts/probe/run',
      body: { version: 1, params: { host: '10.0.0.1', count: '3' }, timeoutMs: 120_000, ttl: 600 },
    });
  });

  it('prints the error the server gives for a bad parameter, exit 1', async () => {
    const r = await outpost(
      (_req, res) => apiError(res, 400, 'E_BAD_ARGS', "missing required parameter 'host'"),
      ['scripts', 'run', 'probe', 'gw-1'],
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("missing required parameter 'host'");
  });
});
