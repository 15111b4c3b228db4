/**
 * Logs end to end with a real server and a real agent process: reading the
 * agent's records and files under its log roots, the refusals (`..`, symlinks
 * out of the roots, no journal on this machine), following a file over
 * Server-Sent Events until the reader leaves (which cancels the follow on the
 * device), cancelling commands, and `outpost logs` with Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { CLI_BIN, onlineAgent, runCli, sendCommand, tempDir, waitUntil } from '../helpers.js';

let logDir: string;

const fx = useOnlineDevice({
  setup: ({ agent }) => {
    // The agent's default log roots are /var/log and <state-dir>/logs.
    logDir = join(agent.stateDir, 'logs');
    mkdirSync(logDir, { recursive: true });
  },
});

const logs = (query: string) => fx.ts.api('GET', `/devices/${fx.deviceId}/logs?${query}`);
const file = (name: string) => `source=${encodeURIComponent(`file:${join(logDir, name)}`)}`;
const command = async (id: string) => (await fx.ts.api('GET', `/commands/${id}`)).body;

/** Opens the follow stream and collects its events until `until` says stop (then the reader leaves). */
async function followStream(query: string, onEvent: (event: string, data: any) => boolean): Promise<string> {
  const controller = new AbortController();
  const res = await fetch(
    `https://127.0.0.1:${fx.ts.server.httpPort}/api/v1/devices/${fx.deviceId}/logs?${query}&follow=true`,
    {
      headers: { authorization: `Bearer ${fx.ts.token}`, accept: 'text/event-stream' },
      dispatcher: new Agent({ connect: { ca: fx.ts.ca } }),
      signal: controller.signal,
    },
  );
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  const commandId = res.headers.get('x-outpost-command') ?? '';
  let buffer = '';
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      buffer += Buffer.from(chunk).toString('utf8');
      let cut = buffer.indexOf('\n\n');
      while (cut !== -1) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        cut = buffer.indexOf('\n\n');
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event && data && onEvent(event, JSON.parse(data))) return commandId;
      }
    }
  } finally {
    controller.abort();
  }
  return commandId;
}

describe('reading logs', () => {
  it("answers the agent's own records, newest last, with level and time", async () => {
    const r = await logs('source=agent&lines=5&level=info');
    expect(r.status).toBe(200);
    expect(r.body.source).toBe('agent');
    expect(r.body.lines.length).toBeGreaterThan(0);
    expect(r.body.lines.length).toBeLessThanOrEqual(5);
    for (const l of r.body.lines) {
      expect(['info', 'warn', 'error']).toContain(l.level);
      expect(JSON.parse(l.text).time).toBe(l.time);
    }
    expect((await logs('source=agent&grep=ready%20for%20commands')).body.lines.length).toBeGreaterThan(0);
  });

  it('reads the tail of a file under the log roots, with grep, and refuses .., symlink escapes and non-files', async () => {
    writeFileSync(
      join(logDir, 'app.log'),
      `${Array.from({ length: 50 }, (_, i) => `line ${i} ${i % 10 === 0 ? 'ERR' : 'ok'}`).join('\n')}\n`,
    );
    const r = await logs(`${file('app.log')}&lines=2&grep=ERR`);
    expect(r.body).toEqual({
      source: `file:${join(logDir, 'app.log')}`,
      lines: [
        { time: null, text: 'line 30 ERR' },
        { time: null, text: 'line 40 ERR' },
      ],
      truncated: false,
    });

    const up = await logs(`source=${encodeURIComponent(`file:${logDir}/../identity.json`)}`);
    expect([up.status, up.body.error.code]).toEqual([400, 'E_BAD_ARGS']);
    symlinkSync(join(fx.agent.stateDir, 'identity.json'), join(logDir, 'escape.log'));
    const escaped = await logs(file('escape.log'));
    expect([escaped.status, escaped.body.error.code]).toEqual([403, 'E_DENIED']);
    expect(escaped.text).not.toContain('secret');
    const outside = await logs(`source=${encodeURIComponent('file:/etc/passwd')}`);
    expect([outside.status, outside.body.error.code]).toEqual([403, 'E_DENIED']);
    mkdirSync(join(logDir, 'subdir'));
    expect((await logs(file('subdir'))).body.error.code).toBe('E_BAD_ARGS');
    expect((await logs(file('nope.log'))).body.error.code).toBe('E_NOT_FOUND');
    expect((await logs(`${file('app.log')}&since=10m`)).body.error.code).toBe('E_BAD_ARGS'); // file lines carry no time
  });

  it('answers E_UNSUPPORTED for a systemd unit: this machine has journalctl but no journal', async () => {
    const r = await logs('source=unit:ssh.service');
    expect(r.status).toBe(501);
    expect(r.body.error).toMatchObject({ code: 'E_UNSUPPORTED', message: expect.stringMatching(/no systemd journal/) });
  });

  it('refuses bad queries at the edge', async () => {
    for (const q of [
      'source=shell:ls',
      'source=unit:-x',
      'source=file:relative',
      'since=yesterday',
      'lines=0',
      'maxSeconds=5',
    ]) {
      const r = await logs(q);
      expect([q, r.status, r.body.error.code]).toEqual([q, 400, 'E_BAD_ARGS']);
    }
  });
});

describe('following logs', () => {
  it('streams lines appended to a file, and stops the follow on the device when the reader leaves', async () => {
    const path = join(logDir, 'follow.log');
    writeFileSync(path, 'before 1\nbefore 2\n');
    const seen: string[] = [];
    let started = false;
    const id = await followStream(`${file('follow.log')}&lines=1`, (event, data) => {
      if (event === 'start') {
        started = true;
        setTimeout(() => appendFileSync(path, 'appended A\nappended B\n'), 300);
      }
      // History read from a file has no time; lines seen arriving are stamped when read.
      if (event === 'line') seen.push(`${data.text} ${data.time === null ? '-' : 'timed'}`);
      return seen.length >= 3;
    });
    expect(started).toBe(true);
    expect(seen).toEqual(['before 2 -', 'appended A timed', 'appended B timed']);
    const ended = await waitUntil(async () => {
      const c = await command(id);
      return c.status === 'succeeded' ? c : null;
    }, 'the follow cancelled on the device');
    expect(ended).toMatchObject({ capability: 'logs', action: 'follow', result: { reason: 'cancelled', lines: 3 } });
  });

  it('ends the stream with the command when the follow reaches maxSeconds', async () => {
    writeFileSync(join(logDir, 'quiet.log'), '');
    let end: any;
    await followStream(`${file('quiet.log')}&maxSeconds=1`, (event, data) => {
      if (event === 'end') end = data;
      return event === 'end';
    });
    expect(end).toMatchObject({ status: 'succeeded', result: { reason: 'duration', lines: 0 } });
  });

  it('outpost logs -f prints new lines and Ctrl-C stops the follow on the device too', async () => {
    const path = join(logDir, 'cli.log');
    writeFileSync(path, 'first\n');
    const home = tempDir('outpost-home-');
    const proc = spawn(process.execPath, [CLI_BIN, 'logs', fx.deviceId, '--file', path, '-f'], {
      env: {
        PATH: process.env.PATH,
        HOME: home,
        OUTPOST_URL: `https://127.0.0.1:${fx.ts.server.httpPort}`,
        OUTPOST_TOKEN: fx.ts.token,
        OUTPOST_CA: fx.ts.server.caFile,
      },
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
    await waitUntil(() => out === 'first\n', 'the history line');
    appendFileSync(path, 'second\n');
    await waitUntil(() => out === 'first\nsecond\n', 'the new line');
    proc.kill('SIGINT');
    expect(await exited).toBe(130);
    const follows = (await fx.ts.api('GET', `/devices/${fx.deviceId}/commands`)).body.items.filter(
      (c: any) => c.action === 'follow' && c.args.source === `file:${path}`,
    );
    expect(follows).toHaveLength(1);
    await waitUntil(async () => (await command(follows[0].id)).result?.reason === 'cancelled', 'follow cancelled');
    const plain = await runCli(fx.ts, ['logs', fx.deviceId, '--file', path, '-n', '1']);
    expect([plain.code, plain.stdout]).toEqual([0, 'second\n']);
  });
});

describe('cancelling commands', () => {
  it('stops a running command on the device; a finished one answers 409', async () => {
    const running = await sendCommand(fx.ts, fx.deviceId, 'exec', 'run', { argv: ['sleep', '30'] }, 'wait=false');
    await waitUntil(async () => (await command(running.body.id)).status !== 'queued', 'exec sent');
    const r = await fx.ts.api('POST', `/commands/${running.body.id}/cancel`);
    expect(r.status).toBe(200);
    expect(r.body.cancelled).toBe(true);
    const done = await waitUntil(async () => {
      const c = await command(running.body.id);
      return c.status === 'succeeded' ? c : null;
    }, 'the exec to end');
    expect(done.result).toMatchObject({ exitCode: null, signal: 'SIGTERM', timedOut: false });
    expect(done.durationMs).toBeLessThan(25_000);
    const again = await fx.ts.api('POST', `/commands/${running.body.id}/cancel`);
    expect([again.status, again.body.error.code]).toEqual([409, 'E_CONFLICT']);
    const audit = (await fx.ts.api('GET', `/audit?action=command.cancel`)).body.items;
    expect(audit.some((e: any) => e.target === running.body.id && e.result === 'ok')).toBe(true);
  });

  it('fails a queued command at once: it never reaches the device', async () => {
    const { agent: other, device: d } = await onlineAgent(fx.ts);
    await other.stop();
    await waitUntil(async () => (await fx.ts.device(d.id)).online === false, 'device offline');
    const queued = await sendCommand(fx.ts, d.id, 'exec', 'run', { argv: ['true'] }, 'wait=false');
    expect(queued.body.status).toBe('queued');
    const r = await fx.ts.api('POST', `/commands/${queued.body.id}/cancel`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ cancelled: true, command: { status: 'failed', error: { code: 'E_CONFLICT' } } });
    expect(r.body.command.error.message).toMatch(/before it was sent/);
  });
});
