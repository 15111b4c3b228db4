/**
 * The script library end to end: the HTTP API of a real server, and library
 * scripts run by a real agent process (sh and python3) with parameters, output
 * streamed over SSE, a forked daemon reaped by the timeout, and the audit trail.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { tempDir, waitUntil } from '../helpers.js';

const fx = useOnlineDevice({ timeoutMs: 120_000 });

const create = (body: Record<string, unknown>) => fx.ts.api('POST', '/scripts', body);
const run = (name: string, body: Record<string, unknown>, query = '?wait=true&timeout=60') =>
  fx.ts.api('POST', `/devices/${fx.deviceId}/scripts/${name}/run${query}`, body);

/** Pids whose command line is exactly `argv` (a process that is a zombie no longer has one). */
function processesRunning(argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8') === want;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

describe('the script library over HTTP', () => {
  it('creates, versions and shows scripts; refuses bad names, unknown scripts, bad bodies and oversize content', async () => {
    const made = await create({ name: 'hello', interpreter: 'sh', content: 'echo hello\n', description: 'greets' });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ name: 'hello', version: 1, interpreter: 'sh', content: 'echo hello\n' });
    expect((await create({ name: 'hello', interpreter: 'sh', content: 'x' })).body.error.code).toBe('E_CONFLICT');

    const edited = await fx.ts.api('PUT', '/scripts/hello', { content: 'echo hello again\n' });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ version: 2, description: 'greets', content: 'echo hello again\n' });
    const versions = await fx.ts.api('GET', '/scripts/hello/versions');
    expect(versions.body.items.map((v: any) => v.version)).toEqual([2, 1]);
    expect(versions.body.items[0]).not.toHaveProperty('content');
    expect((await fx.ts.api('GET', '/scripts/hello/versions/1')).body.content).toBe('echo hello\n');
    expect((await fx.ts.api('GET', '/scripts')).body.items).toEqual([
      expect.objectContaining({ name: 'hello', version: 2 }),
    ]);

    for (const bad of ['a;rm -rf', '$(id)', '.hidden', 'a/../b', 'Hello', 'a b', '-x']) {
      const r = await create({ name: bad, interpreter: 'sh', content: 'x' });
      expect(r.status, bad).toBe(400);
      expect(r.body.error.code).toBe('E_BAD_ARGS');
      expect((await fx.ts.api('GET', `/scripts/${encodeURIComponent(bad)}`)).status, bad).toBe(400);
    }
    for (const [method, path, body] of [
      ['GET', '/scripts/nope', undefined],
      ['PUT', '/scripts/nope', { content: 'x' }],
      ['DELETE', '/scripts/nope', undefined],
      ['GET', '/scripts/nope/versions', undefined],
      ['GET', '/scripts/hello/versions/3', undefined],
      ['POST', `/devices/${fx.deviceId}/scripts/nope/run`, {}],
    ] as const) {
      const r = await fx.ts.api(method, path, body);
      expect(`${method} ${path}: ${r.status} ${r.body.error?.code}`).toBe(`${method} ${path}: 404 E_NOT_FOUND`);
    }
    expect((await create({ name: 'perl', interpreter: 'perl', content: 'x' })).status).toBe(400);
    expect((await create({ name: 'x', interpreter: 'sh', content: 'x', colour: 'red' })).status).toBe(400);
    expect((await fx.ts.api('PUT', '/scripts/hello', {})).status).toBe(400);
    const big = await create({ name: 'big', interpreter: 'sh', content: `#${'x'.repeat(256 * 1024)}` });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('E_TOO_LARGE');
    expect((await fx.ts.api('GET', '/scripts/big')).status).toBe(404);

    expect((await fx.ts.api('DELETE', '/scripts/hello')).status).toBe(204);
    expect((await fx.ts.api('GET', '/scripts/hello/versions')).status).toBe(404);
  });
});

describe('running library scripts on a real agent', () => {
  it('sh: parameters arrive as OUTPOST_PARAM_* and $1.., literally, and the exit code comes back', async () => {
    const marker = `${tempDir()}/injected`;
    const content = [
      'printf "env:%s\\n" "$OUTPOST_PARAM_TARGET" "$OUTPOST_PARAM_COUNT"',
      'printf "arg:%s\\n" "$@"',
      'echo "from $OUTPOST_SCRIPT_NAME@$OUTPOST_SCRIPT_VERSION"',
      'exit 3',
    ].join('\n');
    const params = [
      { name: 'target', type: 'string', required: true },
      { name: 'count', type: 'integer', default: 2 },
    ];
    expect((await create({ name: 'params-sh', interpreter: 'sh', content, params })).status).toBe(201);
    const hostile = `$(touch ${marker}); "q" 'x' \`touch ${marker}\``;
    const r = await run('params-sh', { params: { target: hostile } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'succeeded', capability: 'exec', action: 'run' });
    expect(r.body.result).toMatchObject({ exitCode: 3, stderr: '', timedOut: false });
    expect(r.body.result.stdout).toBe(`env:${hostile}\nenv:2\narg:${hostile}\narg:2\nfrom params-sh@1\n`);
    expect(readdirSync(marker.replace(/\/injected$/, ''))).toEqual([]);
  });

  it('python3: typed parameters, a pinned version, and the bad ones refused before anything is sent', async () => {
    const v1 = 'import os, sys\nprint(os.environ["OUTPOST_PARAM_VERBOSE"], sys.argv[1:])\n';
    const params = [
      { name: 'verbose', type: 'boolean', default: false },
      { name: 'host', type: 'string', pattern: '[a-z0-9.-]+' },
    ];
    expect((await create({ name: 'params-py', interpreter: 'python3', content: v1, params })).status).toBe(201);
    await fx.ts.api('PUT', '/scripts/params-py', { content: 'print("version two")\n' });

    const pinned = await run('params-py', { version: 1, params: { verbose: true, host: 'gw-1.lan' } });
    expect(pinned.body.result).toMatchObject({ exitCode: 0, stdout: "true ['true', 'gw-1.lan']\n" });
    const latest = await run('params-py', {});
    expect(latest.body.result.stdout).toBe('version two\n');

    const before = (await fx.ts.api('GET', `/devices/${fx.deviceId}/commands`)).body.items.length;
    for (const [given, message] of [
      [{ verbose: 'maybe' }, "parameter 'verbose' must be true or false"],
      [{ host: 'gw; reboot' }, "parameter 'host' does not match its pattern [a-z0-9.-]+"],
      [{ colour: 'red' }, "unknown parameter 'colour' (the script declares: verbose, host)"],
    ] as const) {
      const r = await run('params-py', { version: 1, params: given });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'E_BAD_ARGS', message });
    }
    expect((await fx.ts.api('GET', `/devices/${fx.deviceId}/commands`)).body.items).toHaveLength(before);
  });

  it('streams output over SSE like any exec, from a 202', async () => {
    const content = 'echo first\nsleep 0.5\necho second >&2\nsleep 0.5\necho third\n';
    await create({ name: 'slow', interpreter: 'bash', content });
    const sent = await run('slow', {}, '');
    expect(sent.status).toBe(202);
    const events = await fx.ts.api('GET', `/commands/${sent.body.id}/events`);
    const frames = [...events.text.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => ({
      event: m[1],
      data: JSON.parse(m[2] ?? 'null'),
    }));
    const output = frames.filter((f) => f.event === 'output').map((f) => f.data);
    expect(output.map((o) => `${o.stream}:${Buffer.from(o.data, 'base64').toString()}`)).toEqual([
      'stdout:first\n',
      'stderr:second\n',
      'stdout:third\n',
    ]);
    expect(frames.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded', result: { exitCode: 0 } } });
  });

  it('a script that forks a daemon and exits is reaped, daemon and all, by its timeout', async () => {
    // The daemon keeps the output pipe open, so the command lasts until the timeout kills its group.
    const daemon = ['sleep', '317'];
    await create({ name: 'forker', interpreter: 'sh', content: `(${daemon.join(' ')} & echo $!)\nexit 0\n` });
    const r = await run('forker', { timeoutMs: 1500 });
    expect(r.body.result).toMatchObject({ exitCode: 0, timedOut: true });
    const pid = Number(r.body.result.stdout.trim());
    expect(pid).toBeGreaterThan(1);
    await waitUntil(() => processesRunning(daemon).length === 0, 'no `sleep 317` left running', 10_000);
    const stat = (() => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        return 'gone';
      }
    })();
    expect(stat === 'gone' || / Z /.test(stat), `daemon ${pid}: ${stat}`).toBe(true);
  });

  it('records every write and run in the audit log, with who and which version', async () => {
    await create({ name: 'audited', interpreter: 'sh', content: 'true' });
    await fx.ts.api('PUT', '/scripts/audited', { content: 'true\n' });
    const ran = await run('audited', {});
    await run('audited', { params: { nope: '1' } });
    await fx.ts.api('DELETE', '/scripts/audited');
    const entries = await waitUntil(async () => {
      const items = (await fx.ts.api('GET', '/audit?action=script.*&limit=1000')).body.items as any[];
      const mine = items.filter((e) => e.target === 'script:audited' || e.target === ran.body.id);
      return mine.length >= 5 ? mine : null;
    }, 'five audit entries');
    expect(entries.map((e) => `${e.action} ${e.result} ${e.errorCode ?? ''}`.trim())).toEqual([
      'script.create ok',
      'script.update ok',
      'script.run ok',
      'script.run error E_BAD_ARGS',
      'script.delete ok',
    ]);
    const runEntry = entries[2];
    expect(runEntry).toMatchObject({
      actorName: 'admin',
      deviceId: fx.deviceId,
      details: { script: 'audited', version: 2 },
    });
    expect(entries[3]).toMatchObject({ deviceId: fx.deviceId });
  });
});
