/**
 * File contents over the device's byte stream (docs/files.md §Transfers):
 * `PUT …/files/content` streams the request body into a `files/upload` stream,
 * `GET …/files/content` streams a `files/download` stream into the response
 * (with `Range: bytes=N-` for resume). Both go through the stream layer's
 * windows end to end, so neither side is ever held in memory: only these
 * routes take a raw `application/octet-stream` body, with no body limit.
 */
import { PassThrough, type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  api,
  type CommandResult,
  check,
  FilesDownloadEnd,
  FilesDownloadStart,
  MAX_FRAME_DATA,
  MAX_TRANSFER_BYTES,
  OutpostError,
  type StreamDuplex,
} from '@outpost/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CommandView } from '../../services/command-view.js';
import { commandOutcome } from '../../services/command-view.js';
import type { Services } from '../../services/index.js';
import type { DeviceStream } from '../../services/streams.js';
import { runOnDevice } from './device-action.js';

/** Receive window of the server's end of a transfer stream. */
const TRANSFER_WINDOW = 4 * 1024 * 1024;
/** After the bytes went through, how long the device may take to check and rename the file. */
const RESULT_WAIT_MS = 120_000;

/** The command's final state, or E_TIMEOUT when the device says nothing in time. */
async function finalOf(stream: DeviceStream, ms: number): Promise<CommandView> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      stream.result,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new OutpostError('E_TIMEOUT', `device did not answer in time; see command ${stream.command.id}`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `bytes=N-` → N; anything else (multiple or closed ranges) is not supported and ignored, as RFC 9110 allows. */
export function rangeStart(header: string | undefined): number | undefined {
  const m = header === undefined ? null : /^bytes=(\d{1,15})-$/.exec(header.trim());
  return m ? Number(m[1]) : undefined;
}

/**
 * Joins small chunks into `size`-byte ones. An HTTPS body arrives in 16 KiB pieces (one TLS
 * record each); sent as they come they would make four MQTT messages per full frame.
 */
export function coalesce(size: number): Transform {
  let parts: Buffer[] = [];
  let length = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, cb) {
      parts.push(chunk);
      length += chunk.length;
      if (length >= size) {
        const all = Buffer.concat(parts, length);
        const whole = length - (length % size);
        for (let off = 0; off < whole; off += size) this.push(all.subarray(off, off + size));
        parts = whole < length ? [all.subarray(whole)] : [];
        length -= whole;
      }
      cb();
    },
    flush(cb) {
      if (length > 0) this.push(Buffer.concat(parts, length));
      parts = [];
      cb();
    },
  });
}

/**
 * Pipes the request body into the stream with backpressure, in whole frames. Unlike
 * pipeline(), a failing device does not destroy the request, so the device's error can
 * still be answered; a client that goes away aborts the stream.
 */
function deliver(body: Readable, duplex: StreamDuplex): Promise<'sent' | 'client-gone' | 'device-failed'> {
  return new Promise((resolve) => {
    const frames = coalesce(MAX_FRAME_DATA);
    let settled = false;
    const settle = (how: 'sent' | 'client-gone' | 'device-failed') => {
      if (settled) return;
      settled = true;
      body.unpipe(frames);
      frames.unpipe(duplex);
      if (how === 'client-gone') duplex.abort('E_OFFLINE', 'the client went away');
      resolve(how);
    };
    duplex.once('finish', () => settle('sent'));
    duplex.once('close', () => settle(duplex.writableFinished ? 'sent' : 'device-failed'));
    body.once('error', () => settle('client-gone'));
    body.once('close', () => {
      if (!body.readableEnded) settle('client-gone');
    });
    body.pipe(frames).pipe(duplex);
  });
}

export async function fileContentRoutes(app: FastifyInstance, services: Services): Promise<void> {
  // This scope holds only the content routes: the raw body parser applies to nothing else.
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  app.put<{ Params: api.DeviceRef; Querystring: api.FilesUploadQuery }>(
    '/devices/:device/files/content',
    {
      bodyLimit: MAX_TRANSFER_BYTES,
      config: { permission: 'commands:run', audit: 'file.upload' },
      schema: {
        summary: 'Upload a file to the device (streamed, resumable, checked)',
        description:
          'The body (`application/octet-stream`) is bytes `offset` to `size` of the file. They stream to the device with backpressure into a partial file named by `transfer`, which a later request with the same `transfer` resumes (ask `GET …/files/upload-status` for the offset). The file replaces `path` only when it has `size` bytes and the `sha256`.',
        tags: ['files'],
        params: api.DeviceRef,
        querystring: api.FilesUploadQuery,
        response: { 200: api.FilesUploadAnswer, ...api.errors },
      },
    },
    async (req, reply) => {
      const body = req.body as Readable | undefined;
      if (!body || typeof (body as Readable).pipe !== 'function') {
        throw new OutpostError('E_BAD_ARGS', 'send the file as an application/octet-stream body');
      }
      const q = req.query;
      const offset = q.offset ?? 0;
      if (offset > q.size) throw new OutpostError('E_BAD_ARGS', `offset ${offset} is past the size ${q.size}`);
      const length = req.headers['content-length'];
      if (length !== undefined && Number(length) !== q.size - offset) {
        throw new OutpostError(
          'E_BAD_ARGS',
          `the body must hold bytes ${offset} to ${q.size} (${q.size - offset} bytes)`,
        );
      }
      const stream = await services.streams.open({
        device: req.params.device,
        actor: req.actor,
        command: 'files/upload',
        args: q,
        window: TRANSFER_WINDOW,
      });
      req.auditNote = {
        target: stream.command.id,
        deviceId: stream.deviceId,
        details: { command: 'files/upload', path: q.path, size: q.size, offset, sha256: q.sha256 },
      };
      const duplex = stream.duplex();
      const delivered = await deliver(body, duplex);
      if (delivered === 'client-gone') {
        // The device keeps what it has for a resume; nobody reads this answer.
        req.log.info({ commandId: stream.command.id }, 'upload interrupted by the client');
      } else if (delivered === 'device-failed') {
        // The rest of the body is not read: close the connection after the answer instead of draining it.
        reply.header('connection', 'close');
      }
      const final = await finalOf(stream, RESULT_WAIT_MS);
      return commandOutcome(final) as CommandResult<'files/upload'>;
    },
  );

  app.get<{ Params: api.DeviceRef; Querystring: api.FilesDownloadQuery }>(
    '/devices/:device/files/content',
    {
      // File contents can hold anything the device keeps: operators only, and every download audited.
      config: { permission: 'commands:run', audit: 'file.download' },
      schema: {
        summary: 'Download a file from the device (streamed, resumable)',
        description: `The answer streams the file from \`offset\` (or \`Range: bytes=N-\`, answered 206). Headers: \`${api.FILE_SIZE_HEADER}\` (the whole file) and \`${api.FILE_MODE_HEADER}\` (octal); the trailer \`${api.FILE_SHA256_TRAILER}\` carries the whole file's SHA-256 once every byte was sent.`,
        tags: ['files'],
        params: api.DeviceRef,
        querystring: api.FilesDownloadQuery,
        response: { ...api.errors },
      },
    },
    async (req, reply) => download(services, req, reply),
  );
}

async function download(
  services: Services,
  req: FastifyRequest<{ Params: api.DeviceRef; Querystring: api.FilesDownloadQuery }>,
  reply: FastifyReply,
): Promise<unknown> {
  const range = rangeStart(req.headers.range);
  const offset = range ?? req.query.offset ?? 0;
  if (req.method === 'HEAD') {
    // Headers only: describe the file without moving any of it.
    const st = await runOnDevice(services, req, req.params.device, 'files/stat', { path: req.query.path }, 20_000);
    if (st.entry.type !== 'file') throw new OutpostError('E_BAD_ARGS', `not a regular file: ${req.query.path}`);
    reply.header(api.FILE_SIZE_HEADER, String(st.entry.size));
    reply.header(api.FILE_MODE_HEADER, st.entry.mode.toString(8));
    reply.header('accept-ranges', 'bytes');
    return reply.type('application/octet-stream').send();
  }
  const stream = await services.streams.open({
    device: req.params.device,
    actor: req.actor,
    command: 'files/download',
    args: { path: req.query.path, offset },
    window: TRANSFER_WINDOW,
  });
  req.auditNote = { target: stream.command.id, deviceId: stream.deviceId, details: { path: req.query.path, offset } };
  const duplex = stream.duplex();
  // We send nothing: our direction ends at once.
  duplex.end();
  let endInfo: FilesDownloadEnd | undefined;
  const start = await new Promise<FilesDownloadStart>((resolve, reject) => {
    duplex.on('control', (value: Record<string, unknown>) => {
      if (check(FilesDownloadStart, value)) resolve(value);
      else if (check(FilesDownloadEnd, value)) endInfo = value;
      else duplex.abort('E_BAD_ARGS', 'unexpected control message in a download');
    });
    stream.closed.then(
      (err) => reject(err ?? new OutpostError('E_INTERNAL', 'the device ended the download before it started')),
      reject,
    );
  }).catch(async (err: unknown) => {
    // The device refused (no such file, outside the roots...): its command carries the real reason.
    const final = await finalOf(stream, 10_000).catch(() => undefined);
    if (final && final.status === 'failed') commandOutcome(final);
    throw err;
  });

  const body = new PassThrough();
  pipeline(duplex, body).catch((err: unknown) => {
    req.log.info({ err, commandId: stream.command.id }, 'download interrupted');
  });
  // A client that goes away stops the device at once, with a reason it can log.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished && !duplex.destroyed) duplex.abort('E_OFFLINE', 'the client went away');
  });
  reply.header(api.FILE_SIZE_HEADER, String(start.size));
  reply.header(api.FILE_MODE_HEADER, start.mode.toString(8));
  reply.header('accept-ranges', 'bytes');
  reply.header('last-modified', new Date(start.mtime).toUTCString());
  if (range !== undefined) {
    reply.code(206);
    reply.header('content-range', `bytes ${start.offset}-${Math.max(start.offset, start.size - 1)}/${start.size}`);
  }
  reply.trailer(api.FILE_SHA256_TRAILER, async () => {
    if (!endInfo) throw new OutpostError('E_INTERNAL', 'the download ended without its checksum');
    return endInfo.sha256;
  });
  return reply.type('application/octet-stream').send(body);
}
