/**
 * `files/fetch`: the device downloads an http(s) URL into a file (docs/files.md
 * §Fetch). The body streams into a temp file beside the target while it is
 * hashed and counted against the size cap; a bounded number of redirects is
 * followed (http/https only); the whole download has one deadline. Only a
 * complete download with the right SHA-256 replaces the target, atomically.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import {
  FETCH_DEFAULT_MAX_BYTES,
  FETCH_DEFAULT_MAX_REDIRECTS,
  FETCH_DEFAULT_TIMEOUT_MS,
  type FilesFetchArgs,
  type FilesFetchResult,
  OutpostError,
} from '@outpost/protocol';
import type { CommandContext } from './capability.js';
import { type FileSandbox, fsError } from './files-paths.js';
import {
  checkWritable,
  commitTemp,
  createTemp,
  DEFAULT_FILE_MODE,
  discardTemp,
  resolveOwnership,
  tempName,
} from './files-write.js';

/** Progress lines go out at most this often. */
const PROGRESS_INTERVAL_MS = 1000;

/** Parses and checks a URL the device may fetch: http(s), no credentials. */
export function checkFetchUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutpostError('E_BAD_ARGS', 'invalid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutpostError('E_BAD_ARGS', `only http:// and https:// URLs can be fetched (got ${url.protocol}//)`);
  }
  if (url.username || url.password) {
    throw new OutpostError('E_BAD_ARGS', 'URLs with credentials are refused: they would be stored with the command');
  }
  return url;
}

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Readable;
}

function get(url: URL, signal: AbortSignal): Promise<Response> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.get(url, { signal, headers: { 'user-agent': 'outpost-agent', 'accept-encoding': 'identity' } });
    req.on('response', (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }));
    req.on('error', reject);
  });
}

function networkError(err: unknown, url: URL, signal: AbortSignal, timeoutMs: number): OutpostError {
  if (err instanceof OutpostError) return err;
  if (signal.aborted) {
    const reason = signal.reason as { timeout?: boolean } | undefined;
    return reason?.timeout
      ? new OutpostError('E_TIMEOUT', `download did not finish within ${Math.round(timeoutMs / 1000)} s`)
      : new OutpostError('E_INTERNAL', 'agent stopped while the download was running');
  }
  const code = (err as NodeJS.ErrnoException).code;
  const host = url.host;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new OutpostError('E_NOT_FOUND', `cannot resolve host ${host}`);
  if (code === 'ECONNREFUSED') return new OutpostError('E_NOT_FOUND', `connection refused by ${host}`);
  if (code === 'ETIMEDOUT') return new OutpostError('E_TIMEOUT', `connection to ${host} timed out`);
  if (code?.startsWith('ERR_TLS') || code?.includes('CERT'))
    return new OutpostError('E_DENIED', `TLS certificate of ${host} not trusted (${code})`);
  return new OutpostError('E_INTERNAL', `download from ${host} failed${code ? ` (${code})` : ''}`);
}

function statusError(status: number, url: URL): OutpostError {
  const what = `${url.origin}${url.pathname} answered HTTP ${status}`;
  if (status === 404 || status === 410) return new OutpostError('E_NOT_FOUND', what, { httpStatus: status });
  if (status === 401 || status === 403) return new OutpostError('E_DENIED', what, { httpStatus: status });
  return new OutpostError('E_INTERNAL', what, { httpStatus: status });
}

/** Follows up to `maxRedirects` redirects; returns the final 2xx response. */
async function request(
  start: URL,
  maxRedirects: number,
  signal: AbortSignal,
): Promise<{ res: Response; url: URL; redirects: number }> {
  let url = start;
  for (let redirects = 0; ; redirects++) {
    const res = await get(url, signal);
    if (res.status >= 300 && res.status < 400 && res.headers.location !== undefined) {
      res.body.resume();
      if (redirects >= maxRedirects) {
        throw new OutpostError('E_BAD_ARGS', `too many redirects (more than ${maxRedirects})`);
      }
      let next: URL;
      try {
        next = new URL(res.headers.location, url);
      } catch {
        throw new OutpostError('E_BAD_ARGS', `redirect to an invalid URL from ${url.origin}`);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new OutpostError('E_BAD_ARGS', `redirect to a ${next.protocol}// URL refused`);
      }
      // Credentials in a redirect target would end up in the result: drop them.
      next.username = '';
      next.password = '';
      url = next;
      continue;
    }
    if (res.status < 200 || res.status >= 300) {
      res.body.resume();
      throw statusError(res.status, url);
    }
    return { res, url, redirects };
  }
}

export async function fetchToFile(
  sandbox: FileSandbox,
  args: FilesFetchArgs,
  ctx: CommandContext,
): Promise<FilesFetchResult> {
  const started = Date.now();
  const url = checkFetchUrl(args.url);
  const maxBytes = args.maxBytes ?? FETCH_DEFAULT_MAX_BYTES;
  const timeoutMs = args.timeoutMs ?? FETCH_DEFAULT_TIMEOUT_MS;
  const owner = await resolveOwnership(args.owner, args.group);
  const overwrite = args.overwrite ?? true;

  return sandbox.with(args.path, async (target) => {
    await checkWritable(target, overwrite, await sandbox.isRoot(target.real));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort({ timeout: true }), timeoutMs);
    const onStop = () => controller.abort({ stop: true });
    ctx.signal.addEventListener('abort', onStop, { once: true });
    const temp = await createTemp(target, tempName(target.name, 'fetch'));
    try {
      const {
        res,
        url: finalUrl,
        redirects,
      } = await request(url, args.maxRedirects ?? FETCH_DEFAULT_MAX_REDIRECTS, controller.signal);
      const length = Number(res.headers['content-length']);
      const total = Number.isSafeInteger(length) && length >= 0 ? length : null;
      if (total !== null && total > maxBytes) {
        res.body.destroy();
        throw new OutpostError('E_TOO_LARGE', `download is ${total} bytes, over the limit of ${maxBytes}`);
      }
      const hash = createHash('sha256');
      let received = 0;
      let lastProgress = 0;
      const progress = (force: boolean) => {
        const now = Date.now();
        if (!force && now - lastProgress < PROGRESS_INTERVAL_MS) return;
        lastProgress = now;
        ctx.emit('stdout', Buffer.from(`${JSON.stringify({ received, total })}\n`));
      };
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          received += chunk.length;
          if (received > maxBytes)
            throw new OutpostError('E_TOO_LARGE', `download exceeds the limit of ${maxBytes} bytes`);
          hash.update(chunk);
          // Awaiting each write is the backpressure: the socket is not read faster than the disk takes it.
          try {
            let off = 0;
            while (off < chunk.length) off += (await temp.handle.write(chunk, off, chunk.length - off)).bytesWritten;
          } catch (err) {
            throw fsError(err, target.path);
          }
          progress(false);
        }
      } catch (err) {
        throw err instanceof OutpostError ? err : networkError(err, finalUrl, controller.signal, timeoutMs);
      }
      if (total !== null && received !== total) {
        throw new OutpostError('E_INTERNAL', `download ended early: ${received} of ${total} bytes`);
      }
      progress(true);
      const sha256 = hash.digest('hex');
      if (args.sha256 !== undefined && sha256 !== args.sha256) {
        throw new OutpostError('E_CONFLICT', 'checksum mismatch: the download does not have the expected SHA-256', {
          expected: args.sha256,
          actual: sha256,
        });
      }
      await commitTemp(temp, target, { mode: args.mode ?? DEFAULT_FILE_MODE, overwrite, ...(owner ? { owner } : {}) });
      ctx.log.info('fetched', { path: target.path, size: received, host: finalUrl.host, redirects });
      return {
        path: target.path,
        size: received,
        sha256,
        finalUrl: finalUrl.toString(),
        redirects,
        durationMs: Date.now() - started,
      };
    } catch (err) {
      await discardTemp(temp);
      const e = networkError(err, url, controller.signal, timeoutMs);
      if (e.code === 'E_INTERNAL') ctx.log.warn('fetch failed', { path: target.path, message: e.message });
      throw e;
    } finally {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onStop);
    }
  });
}
