/**
 * `outpost scripts` as a user runs it: the real CLI process against a real server
 * and a real agent process, from saving a script to running it with parameters,
 * its output live and the remote exit code as the CLI's own.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { runCli, tempDir } from '../helpers.js';

const dir = tempDir();

const fx = useOnlineDevice({ timeoutMs: 120_000 });

const outpost = (...args: string[]) => runCli(fx.ts, args, { timeoutMs: 90_000 });

describe('outpost scripts', () => {
  it('creates, lists, edits, shows versions of, runs and removes a script', async () => {
    const v1 = join(dir, 'probe.sh');
    writeFileSync(v1, 'echo "probing $OUTPOST_PARAM_HOST x$OUTPOST_PARAM_COUNT"\necho "to stderr" >&2\nexit "$2"\n');
    const created = await outpost(
      ...['scripts', 'create', 'probe', '--file', v1, '--interpreter', 'sh', '--description', 'checks a host'],
      ...['--param', 'host:string:required', '--param', 'count:integer=5'],
    );
    expect(created).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^created script probe version 1 \(sh, \d+ bytes\)\n$/),
    });

    const ls = await outpost('scripts', 'ls');
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(
      /^NAME +VERSION +INTERPRETER +PARAMS +UPDATED +DESCRIPTION\nprobe +1 +sh +host, count +.* checks a host\n$/,
    );

    // The script's own exit code ($2 = count) is the CLI's; stdout and stderr stay apart.
    const ran = await outpost(
      'scripts',
      'run',
      'probe',
      fx.deviceId,
      '--param',
      'host=gw-1; reboot',
      '--param',
      'count=7',
    );
    expect(ran).toEqual({ code: 7, stdout: 'probing gw-1; reboot x7\n', stderr: 'to stderr\n' });

    const v2 = join(dir, 'probe.py');
    writeFileSync(v2, 'import os, sys\nprint("py", os.environ["OUTPOST_PARAM_HOST"], sys.argv[1:])\n');
    const edited = await outpost('scripts', 'edit', 'probe', '--file', v2, '--interpreter', 'python3');
    expect(edited).toMatchObject({ code: 0, stdout: 'saved script probe version 2\n' });
    const again = await outpost('scripts', 'edit', 'probe', '--file', v2);
    expect(again.stdout).toBe('script probe unchanged (still version 2)\n');

    const versions = await outpost('scripts', 'versions', 'probe');
    expect(versions.stdout).toMatch(/^VERSION .*\n2 +python3 .*\n1 +sh .*\n$/);
    const shown = await outpost('scripts', 'show', 'probe@1');
    expect(shown.stdout).toContain('version      1 (latest is 2)\n');
    expect(shown.stdout).toMatch(/\nhost +string +yes/);
    expect((await outpost('scripts', 'show', 'probe', '--raw')).stdout).toBe(
      'import os, sys\nprint("py", os.environ["OUTPOST_PARAM_HOST"], sys.argv[1:])\n',
    );

    const latest = await outpost('scripts', 'run', 'probe', fx.deviceId, '--param', 'host=h');
    expect(latest).toEqual({ code: 0, stdout: "py h ['h', '5']\n", stderr: '' });
    const pinned = await outpost('scripts', 'run', 'probe@1', fx.deviceId, '--param', 'host=h', '--param', 'count=0');
    expect(pinned).toMatchObject({ code: 0, stdout: 'probing h x0\n' });

    const json = await outpost('scripts', 'run', 'probe', fx.deviceId, '--param', 'host=h', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'succeeded', args: { interpreter: 'python3' } });
    const history = await outpost('commands', 'ls', fx.deviceId);
    expect(history.stdout).toContain('script probe@2');

    expect((await outpost('scripts', 'rm', 'probe', '--yes')).stdout).toBe('deleted script probe\n');
    const gone = await outpost('scripts', 'show', 'probe');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("script 'probe' not found");
  });

  it('says what is wrong with a run in one line, and exits non-zero', async () => {
    writeFileSync(join(dir, 'need.sh'), 'echo "$OUTPOST_PARAM_WHO"\n');
    await outpost(
      'scripts',
      'create',
      'need',
      '--file',
      join(dir, 'need.sh'),
      '--interpreter',
      'bash',
      '--param',
      'who:string:required',
    );
    const missing = await outpost('scripts', 'run', 'need', fx.deviceId);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe("error: missing required parameter 'who' (E_BAD_ARGS)");
    const badName = await outpost('scripts', 'run', 'need;ls', fx.deviceId);
    expect(badName.code).toBe(2);
    const noVersion = await outpost('scripts', 'run', 'need@9', fx.deviceId, '--param', 'who=x');
    expect(noVersion.stderr.trim()).toBe("error: script 'need' has no version 9 (E_NOT_FOUND)");
    const tooBig = join(dir, 'big.sh');
    writeFileSync(tooBig, `#${'x'.repeat(256 * 1024)}`);
    const big = await outpost('scripts', 'create', 'big', '--file', tooBig, '--interpreter', 'sh');
    expect(big.code).toBe(1);
    expect(big.stderr).toContain('a script may have at most 256 KiB');
  });
});
