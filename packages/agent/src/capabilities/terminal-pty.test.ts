/**
 * writePty with a real PTY (node-pty): input written at once when node-pty's queue is empty,
 * and handed to that queue, in order, when the PTY's input is full. A program reads 4 MiB of
 * random bytes in raw mode and prints their SHA-256; the writes come far faster than it reads,
 * so most of them meet EAGAIN or a non-empty queue.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadPty, writePty } from './terminal-pty.js';

describe('writePty', () => {
  it('delivers every byte in order, whether written at once or queued', async () => {
    const pty = await loadPty();
    const size = 4 * 1024 * 1024;
    const input = randomBytes(size);
    const term = pty.spawn('/bin/sh', ['-c', `stty raw -echo; printf R; head -c ${size} | sha256sum`], {
      name: 'xterm-256color',
      cols: 80,
      rows: 24,
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      encoding: null,
    });
    let out = '';
    const ready = new Promise<void>((resolve) => {
      term.onData((d) => {
        out += d.toString();
        if (out.includes('R')) resolve();
      });
    });
    const exited = new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)));
    await ready;
    // What went to node-pty's own queue rather than straight to the fd.
    let queued = 0;
    const write = term.write.bind(term);
    term.write = (data) => {
      queued += data.length;
      write(data);
    };
    for (let off = 0; off < size; off += 16 * 1024) writePty(term, input.subarray(off, off + 16 * 1024));
    expect(queued).toBeGreaterThan(0);
    expect(queued).toBeLessThan(size);
    expect(await exited).toBe(0);
    expect(out).toContain(createHash('sha256').update(input).digest('hex'));
  }, 60_000);
});
