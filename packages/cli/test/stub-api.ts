/**
 * A plain-HTTP stand-in for the server's API, for the CLI's unit tests: it records every request and
 * answers with whatever the test scripts. The real server is exercised in src/cli.e2e.test.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  authorization: string | undefined;
}

export type Handler = (req: Recorded, res: ServerResponse) => void | Promise<void>;

export interface StubApi {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function apiError(res: ServerResponse, status: number, code: string, message: string): void {
  json(res, status, { error: { code, message } });
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

export async function stubApi(handler: Handler): Promise<StubApi> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://stub');
      const rec: Recorded = {
        method: req.method ?? 'GET',
        path: url.pathname.replace(/^\/api\/v1/, ''),
        query: url.searchParams,
        body: await readBody(req),
        authorization: req.headers.authorization,
      };
      requests.push(rec);
      try {
        await handler(rec, res);
      } catch (err) {
        if (!res.headersSent) apiError(res, 500, 'E_INTERNAL', String(err));
      }
      if (!res.headersSent) apiError(res, 404, 'E_NOT_FOUND', `no stub for ${rec.method} ${rec.path}`);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A Command as the server would answer, with the fields a test does not care about filled in. */
export function command(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'c-1',
    deviceId: 'd-1',
    capability: 'exec',
    action: 'run',
    args: { argv: ['true'] },
    status: 'queued',
    ttl: 3600,
    createdAt: '2025-01-01T00:00:00.000Z',
    createdBy: 'admin',
    sentAt: null,
    finishedAt: null,
    expiresAt: '2025-01-01T01:00:00.000Z',
    durationMs: null,
    result: null,
    error: null,
    ...overrides,
  };
}

export function device(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'd-1',
    name: 'gw-1',
    status: 'accepted',
    online: true,
    tags: ['lab'],
    hostname: 'gw-1',
    os: 'Debian GNU/Linux 12',
    kernel: '6.1.0',
    arch: 'arm64',
    agentVersion: '0.1.0',
    macs: ['aa:bb:cc:dd:ee:ff'],
    ips: ['127.0.0.1', '10.0.0.7'],
    firstSeen: '2025-01-01T00:00:00.000Z',
    lastSeen: '2025-01-01T00:00:00.000Z',
    onlineSince: '2025-01-01T00:00:00.000Z',
    enrolledAt: '2025-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** Writes one SSE frame. */
export function sse(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

export function chunk(seq: number, stream: 'stdout' | 'stderr', text: string) {
  return { seq, stream, data: Buffer.from(text).toString('base64') };
}
