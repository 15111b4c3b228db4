/**
 * Who may open terminals, and what the server keeps of them (docs/terminal.md): a real
 * server, broker and agent with a real PTY. Viewers are refused, a hostile origin cannot
 * borrow a browser's cookie, every session is audited and recorded as a parseable
 * asciicast v2 file that admins can list and download, and recording can be turned off.
 * Also the CLI: `outpost shell DEVICE -- cmd` exits with the remote code.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ApiClient } from '../../packages/cli/src/api.js';
import { openStreamSocket } from '../../packages/cli/src/stream-socket.js';
import { useOnlineDevice } from '../fixture.js';
import { onlineAgent, runCli, startTestServer, tempDir, waitUntil } from '../helpers.js';
import { openTerminal } from '../terminal-session.js';

const PASSWORD = 'terminal-password-123';

const fx = useOnlineDevice();

const clientFor = (token: string) =>
  new ApiClient(`https://127.0.0.1:${fx.ts.server.httpPort}`, token, fx.ts.ca.toString());

async function user(name: string, role: 'viewer' | 'operator'): Promise<{ token: string; cookie: string }> {
  const inv = await fx.ts.api('POST', '/invitations', { name, role });
  await fx.ts.api('POST', '/auth/accept-invitation', { code: inv.body.code, password: PASSWORD }, { token: null });
  const t = await fx.ts.api('POST', '/auth/token', { name, password: PASSWORD, tokenName: 'test' }, { token: null });
  const login = await fx.ts.api('POST', '/auth/login', { name, password: PASSWORD }, { token: null });
  const cookie = /outpost_session=([^;]+)/.exec(String(login.headers.get('set-cookie')))?.[1] ?? '';
  return { token: t.body.token as string, cookie };
}

/** Runs a one-off program in a terminal as `client` and returns its output and final command. */
async function oneOff(client: ApiClient, argv: string[], query: Record<string, number> = {}) {
  const session = openTerminal(client, fx.deviceId, { ...query, argv: JSON.stringify(argv) });
  const opened = await session.sock.opened;
  return { sock: session.sock, opened, final: await session.sock.result, out: () => session.out };
}

describe('terminal access, audit and recordings', () => {
  it('refuses viewers (E_DENIED) and lets operators in', async () => {
    const viewer = await user('term-viewer', 'viewer');
    const vc = clientFor(viewer.token);
    const refused = openStreamSocket(vc, `/devices/${fx.deviceId}/terminal`, { cols: 80, rows: 24 });
    await expect(refused.opened).rejects.toMatchObject({ code: 'E_DENIED', status: 403 });
    await vc.close();
    // The refusal is in the audit log too, with who tried and on which device.
    const audit = await waitUntil(async () => {
      const rows = (await fx.ts.api('GET', '/audit?action=terminal.open&actor=term-viewer')).body.items as any[];
      return rows.find((a) => a.result === 'error');
    }, 'refused terminal in the audit log');
    expect(audit).toMatchObject({ deviceId: fx.deviceId, result: 'error', errorCode: 'E_DENIED' });
    const operator = await user('term-operator', 'operator');
    const oc = clientFor(operator.token);
    const r = await oneOff(oc, ['sh', '-c', 'echo operator-was-here']);
    expect(r.final?.result).toMatchObject({ exitCode: 0, reason: 'exit' });
    expect(r.out()).toContain('operator-was-here');
    await oc.close();
  });

  it('refuses a WebSocket that carries a session cookie from another origin', async () => {
    const operator = await user('term-cookie', 'operator');
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${fx.ts.server.httpPort}/api/v1/devices/${fx.deviceId}/terminal`, {
        ca: fx.ts.ca,
        headers: { cookie: `outpost_session=${operator.cookie}`, origin: 'https://evil.example' },
      });
      ws.on('unexpected-response', (req, res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('error', () => {});
    });
    expect(status).toBe(403);
  });

  it('audits every session and records it as asciicast v2 that admins can download', async () => {
    const admin = clientFor(fx.ts.token);
    const term = openTerminal(admin, fx.deviceId, { cols: 90, rows: 20, argv: JSON.stringify(['/bin/sh']) });
    const { sock } = term;
    const { sid } = await sock.opened;
    sock.stream.write('echo recorded-$((40+2))\r');
    await new Promise((r) => setTimeout(r, 500));
    sock.stream.sendControl({ type: 'resize', cols: 100, rows: 30 });
    sock.stream.write('exit 4\r');
    const final = await sock.result;
    expect(final?.result).toMatchObject({ exitCode: 4 });
    expect(term.out).toContain('recorded-42');
    await admin.close();

    const audit = await fx.ts.api('GET', `/audit?action=terminal.*&device=${fx.deviceId}`);
    const mine = audit.body.items.filter((e: any) => e.target === sid);
    expect(mine.map((e: any) => e.action).sort()).toEqual(['terminal.end', 'terminal.open']);
    const end = mine.find((e: any) => e.action === 'terminal.end');
    expect(end).toMatchObject({ actor: expect.stringMatching(/^token:/), result: 'ok', deviceId: fx.deviceId });
    expect(end.details).toMatchObject({ exitStatus: 4, signal: null, reason: 'exit' });

    const list = await fx.ts.api('GET', `/terminal-sessions?device=${fx.deviceId}`);
    const session = list.body.items.find((s: any) => s.id === sid);
    expect(session).toMatchObject({
      deviceId: fx.deviceId,
      exitCode: 4,
      reason: 'exit',
      recorded: true,
      cols: 90,
      rows: 20,
    });
    expect(session.endedAt).not.toBeNull();

    const rec = await fx.ts.api('GET', `/terminal-sessions/${sid}/recording`);
    expect(rec.status).toBe(200);
    const lines = rec.text
      .trimEnd()
      .split('\n')
      .map((l: string) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ version: 2, width: 90, height: 20, env: { TERM: 'xterm-256color' } });
    const events = lines.slice(1) as [number, string, string][];
    expect(events.every(([t, kind]) => typeof t === 'number' && (kind === 'o' || kind === 'r'))).toBe(true);
    expect(
      events
        .filter(([, k]) => k === 'o')
        .map(([, , d]) => d)
        .join(''),
    ).toContain('recorded-42');
    expect(events).toContainEqual([expect.any(Number), 'r', '100x30']);
    const times = events.map(([t]) => t);
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    // Viewers and operators may not read recordings.
    const viewer = await user('term-viewer-2', 'viewer');
    const denied = await fx.ts.api('GET', `/terminal-sessions/${sid}/recording`, undefined, { token: viewer.token });
    expect(denied.status).toBe(403);
  });

  it('the CLI runs a one-off command with a TTY and exits with its code; admins list and download', async () => {
    const r = await runCli(fx.ts, ['shell', fx.deviceId, '--', 'sh', '-c', 'test -t 0 && echo has-a-tty; exit 5']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('has-a-tty');
    expect(r.code).toBe(5);
    const offline = await runCli(fx.ts, ['shell', 'no-such-device']);
    expect(offline.code).not.toBe(0);
    expect(offline.stderr).toMatch(/not found/);
    const ls = await runCli(fx.ts, ['terminal-sessions', 'ls', '--json']);
    const items = JSON.parse(ls.stdout);
    const latest = items[0];
    expect(latest).toMatchObject({
      deviceId: fx.deviceId,
      exitCode: 5,
      command: ['sh', '-c', 'test -t 0 && echo has-a-tty; exit 5'],
    });
    const dir = tempDir('outpost-cast-');
    const dl = await runCli(fx.ts, ['terminal-sessions', 'download', latest.id, '-o', `${dir}/s.cast`, '--json']);
    expect(dl.code).toBe(0);
    expect(JSON.parse(dl.stdout)).toEqual({ id: latest.id, file: `${dir}/s.cast` });
  });
});

describe('recording off', () => {
  it('keeps the session and its audit, writes no recording', async () => {
    const quiet = await startTestServer({ terminalRecording: false });
    const a = await onlineAgent(quiet);
    try {
      const client = new ApiClient(`https://127.0.0.1:${quiet.server.httpPort}`, quiet.token, quiet.ca.toString());
      const sock = openStreamSocket(client, `/devices/${a.device.id}/terminal`, { argv: JSON.stringify(['true']) });
      sock.stream.resume();
      sock.stream.on('end', () => sock.stream.end());
      const { sid } = await sock.opened;
      expect((await sock.result)?.result).toMatchObject({ exitCode: 0 });
      await client.close();
      const list = await quiet.api('GET', '/terminal-sessions');
      expect(list.body.items.find((s: any) => s.id === sid)).toMatchObject({ recorded: false, recordingBytes: 0 });
      const rec = await quiet.api('GET', `/terminal-sessions/${sid}/recording`);
      expect(rec.status).toBe(404);
    } finally {
      await a.agent.stop();
      await quiet.close();
    }
  });
});
