/**
 * PtyInput with a real PTY (node-pty): input written at once while the PTY takes it, held and
 * offered again while it does not, in order, and `pending` telling how much waits. A program
 * waits for a signal before it reads (as one that is busy would), then reads 4 MiB of random
 * bytes in raw mode and prints their SHA-256.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPty, PtyInput } from './terminal-pty.js';

describe('PtyInput', () => {
  it('holds what the PTY does not take, delivers every byte in order, and says when it drained', async () => {
    const pty = await loadPty();
    const size = 4 * 1024 * 1024;
    const data = randomBytes(size);
    const go = join(tmpdir(), `outpost-pty-go-${randomBytes(4).toString('hex')}`);
    const term = pty.spawn(
      '/bin/sh',
      ['-c', `stty raw -echo; printf R; while [ ! -e ${go} ]; do sleep 0.05; done; head -c ${size} | sha256sum`],
      {
        name: 'xterm-256color',
        cols: 80,
        rows: 24,
        cwd: '/',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        encoding: null,
      },
    );
    let out = '';
    const ready = new Promise<void>((resolve) => {
      term.onData((d) => {
        out += d.toString();
        if (out.includes('R')) resolve();
      });
    });
    const exited = new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)));
    try {
      await ready;
      let drained = 0;
      const input = new PtyInput(term, () => drained++);
      for (let off = 0; off < size; off += 16 * 1024) input.write(data.subarray(off, off + 16 * 1024));
      // The program is not reading: the PTY took what its buffer holds, the rest waits here.
      expect(input.pending).toBeGreaterThan(0);
      expect(input.pending).toBeLessThan(size);
      expect(drained).toBe(0);
      writeFileSync(go, '');
      expect(await exited).toBe(0);
      expect(input.pending).toBe(0);
      expect(drained).toBe(1);
      expect(out).toContain(createHash('sha256').update(data).digest('hex'));
      input.close();
    } finally {
      if (existsSync(go)) rmSync(go);
      term.kill();
    }
  }, 60_000);
});
