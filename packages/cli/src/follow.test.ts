/** followCommand against a stub API whose stream misbehaves the ways real networks do. */
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { chunk, command, json, type StubApi, sse, stubApi } from '../test/stub-api.js';
import { ApiClient } from './api.js';
import { followCommand } from './follow.js';

let stub: StubApi | undefined;
let client: ApiClient | undefined;
afterEach(async () => {
  await client?.close();
  await stub?.close();
});

function collector() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    onOutput: (stream: 'stdout' | 'stderr', bytes: Buffer) => {
      out[stream] += bytes.toString();
    },
  };
}

const done = command({ status: 'succeeded', result: { exitCode: 0 } });
const fast = { pollIntervalMs: 20, idleMs: 2000 };

describe('followCommand', () => {
  it('resumes after a dropped stream with ?after=<last seq> and writes each chunk once', async () => {
    let connects = 0;
    stub = await stubApi((req, res) => {
      if (!req.path.endsWith('/events')) return json(res, 200, command({ status: 'running' }));
      connects++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (connects === 1) {
        sse(res, 'output', chunk(0, 'stdout', 'one '));
        sse(res, 'output', chunk(1, 'stdout', 'two '));
        res.write('event: output\ndata: {"seq":2,'); // the link dies mid-frame
        return void setTimeout(() => res.destroy(), 50);
      }
      // A server replays from `after`; this one replays one chunk too many, which must be dropped.
      const after = Number(req.query.get('after'));
      for (const c of [chunk(1, 'stdout', 'two '), chunk(2, 'stdout', 'three'), chunk(3, 'stderr', '!')]) {
        if (c.seq >= after) sse(res, 'output', c);
      }
      sse(res, 'end', done);
      res.end();
    });
    client = new ApiClient(stub.url, 't');
    const c = collector();
    const r = await followCommand(client, 'c-1', { ...fast, onOutput: c.onOutput });
    expect(c.out).toEqual({ stdout: 'one two three', stderr: '!' });
    expect(r).toMatchObject({ chunks: 4, complete: true, gaps: false, command: { status: 'succeeded' } });
    const streams = stub.requests.filter((q) => q.path.endsWith('/events'));
    expect(streams.map((q) => q.query.get('after'))).toEqual([null, '1']);
  });

  it('ignores keep-alive comments while a silent program runs', async () => {
    stub = await stubApi((_req, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': keepalive\n\n');
      setTimeout(() => {
        res.write(': keepalive\n\n');
        sse(res, 'end', done);
        res.end();
      }, 50);
    });
    client = new ApiClient(stub.url, 't');
    const r = await followCommand(client, 'c-1', { ...fast, onOutput: () => undefined });
    expect(r).toMatchObject({ chunks: 0, complete: true });
    expect(stub.requests).toHaveLength(1);
  });

  it('falls back to polling when the stream endpoint is refused', async () => {
    let polls = 0;
    stub = await stubApi((req, res) => {
      if (req.path.endsWith('/events')) return json(res, 404, { error: { code: 'E_NOT_FOUND', message: 'no route' } });
      polls++;
      json(res, 200, polls < 3 ? command({ status: 'running' }) : done);
    });
    client = new ApiClient(stub.url, 't');
    const r = await followCommand(client, 'c-1', { ...fast, onOutput: () => undefined });
    expect(r).toMatchObject({ complete: false, chunks: 0, command: { status: 'succeeded' } });
    expect(stub.requests.filter((q) => q.path.endsWith('/events'))).toHaveLength(1);
    expect(polls).toBe(3);
  });

  it('a stream that keeps closing without `end` gives way to the final state by polling', async () => {
    stub = await stubApi((req, res) => {
      if (req.path.endsWith('/events')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        return void res.end();
      }
      json(res, 200, done);
    });
    client = new ApiClient(stub.url, 't');
    const r = await followCommand(client, 'c-1', { ...fast, onOutput: () => undefined });
    expect(r).toMatchObject({ complete: false, command: { status: 'succeeded' } });
    // One more stream attempt after seeing it finished, to drain buffered output, then stop.
    expect(stub.requests.filter((q) => q.path.endsWith('/events'))).toHaveLength(2);
  });

  it('a rejected token stops at once', async () => {
    stub = await stubApi((_req, res) => json(res, 401, { error: { code: 'E_UNAUTHENTICATED', message: 'bad token' } }));
    client = new ApiClient(stub.url, 't');
    await expect(followCommand(client, 'c-1', { ...fast, onOutput: () => undefined })).rejects.toMatchObject({
      code: 'E_UNAUTHENTICATED',
    });
  });

  it('aborting stops following', async () => {
    stub = await stubApi((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': hello\n\n'); // and then nothing, forever
    });
    client = new ApiClient(stub.url, 't');
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 100);
    await expect(
      followCommand(client, 'c-1', { ...fast, signal: stop.signal, onOutput: () => undefined }),
    ).rejects.toThrow();
    expect(stop.signal.aborted).toBe(true);
  });
});
