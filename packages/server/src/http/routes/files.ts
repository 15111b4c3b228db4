/**
 * Files on a device (docs/files.md): list or stat, mkdir, delete, move and fetch
 * a URL into a file. Each runs on the device as an ordinary, stored command
 * through deviceAction()/runOnDevice(); the agent enforces its allowed roots.
 */
import { api, FETCH_DEFAULT_TIMEOUT_MS } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { deviceAction, runOnDevice } from './device-action.js';
import { fileContentRoutes } from './files-content.js';

/** Time for the answer to travel besides the work itself. */
const MARGIN_MS = 15_000;

export async function fileRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  app.get<{ Params: api.DeviceRef; Querystring: api.FilesQuery }>(
    '/devices/:device/files',
    {
      config: { permission: 'devices:read' },
      schema: {
        summary: 'List a directory on the device, or describe one path (`stat=true`)',
        description:
          "Runs `files/list` (a page of entries sorted by name; a file lists as itself) or, with `stat=true`, `files/stat` (the path itself, a symlink not followed). Paths must be absolute and inside the agent's allowed roots.",
        tags: ['files'],
        params: api.DeviceRef,
        querystring: api.FilesQuery,
        response: { 200: api.FilesAnswer, ...api.errors },
      },
    },
    async (req) => {
      const { device } = req.params;
      const { path, stat, offset, limit } = req.query;
      if (stat) return runOnDevice(services, req, device, 'files/stat', { path }, 20_000);
      const args = { path, ...(offset !== undefined ? { offset } : {}), ...(limit !== undefined ? { limit } : {}) };
      return runOnDevice(services, req, device, 'files/list', args, 20_000);
    },
  );

  deviceAction(app, services, {
    method: 'POST',
    url: '/devices/:device/files/mkdir',
    command: 'files/mkdir',
    permission: 'commands:run',
    audit: 'file.mkdir',
    summary: 'Make a directory on the device (`recursive` for `mkdir -p`)',
    tags: ['files'],
    body: api.FilesMkdirBody,
    timeoutMs: 20_000,
  });

  deviceAction(app, services, {
    method: 'POST',
    url: '/devices/:device/files/move',
    command: 'files/move',
    permission: 'commands:run',
    audit: 'file.move',
    summary: 'Move or rename a file or directory on the device',
    description: 'Both paths must be inside the allowed roots; an existing `to` is replaced only with `overwrite`.',
    tags: ['files'],
    body: api.FilesMoveBody,
    timeoutMs: 60_000,
  });

  deviceAction(app, services, {
    method: 'DELETE',
    url: '/devices/:device/files',
    command: 'files/delete',
    permission: 'commands:run',
    audit: 'file.delete',
    summary: 'Delete a file, symlink or directory on the device',
    description: 'A non-empty directory only with `recursive=true`; a root of the agent never.',
    tags: ['files'],
    querystring: api.FilesDeleteQuery,
    timeoutMs: 60_000,
  });

  deviceAction(app, services, {
    method: 'GET',
    url: '/devices/:device/files/upload-status',
    command: 'files/upload-status',
    permission: 'devices:read',
    summary: "How much of an upload's partial file is on the device (where to resume)",
    description: 'Also checks that `path` could be uploaded to (inside the roots, its directory exists).',
    tags: ['files'],
    querystring: api.FilesUploadStatusQuery,
    timeoutMs: 20_000,
  });

  // Contents travel on byte streams, in a scope of their own (their raw-body parser applies to nothing else).
  await app.register(async (scope) => fileContentRoutes(scope, services));

  app.post<{ Params: api.DeviceRef; Body: api.FilesFetchBody }>(
    '/devices/:device/files/fetch',
    {
      config: { permission: 'commands:run', audit: 'file.fetch' },
      schema: {
        summary: 'Have the device download an http(s) URL into a file',
        description:
          "The device streams the URL into a temp file beside `path`, checks `sha256` and `maxBytes`, and renames it into place. The request waits for the download (up to its `timeoutMs`, default 10 min); its progress is the command's output stream.",
        tags: ['files'],
        params: api.DeviceRef,
        body: api.FilesFetchBody,
        response: { 200: api.FilesFetchResultSchema, ...api.errors },
      },
    },
    async (req) =>
      runOnDevice(
        services,
        req,
        req.params.device,
        'files/fetch',
        req.body,
        (req.body.timeoutMs ?? FETCH_DEFAULT_TIMEOUT_MS) + MARGIN_MS,
      ),
  );
}
