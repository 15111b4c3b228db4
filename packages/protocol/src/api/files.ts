/**
 * Files on a device (`/devices/:device/files...`): list or stat, mkdir, delete,
 * move and fetch. Bodies are the commands' own args (docs/files.md), so the API,
 * the CLI and the agent share one schema per action.
 */
import { type Static, Type } from '@sinclair/typebox';
import {
  FILES_LIST_MAX_LIMIT,
  FileOwnerName,
  FilePath,
  FilesFetchArgs,
  FilesFetchResult,
  FilesListResult,
  FilesMkdirArgs,
  FilesMoveArgs,
  FilesStatResult,
  FilesUploadResult,
  FilesUploadStatusArgs,
  MAX_TRANSFER_BYTES,
  Sha256Hex,
  TransferId,
} from '../capabilities/files.js';

const strict = { additionalProperties: false } as const;

/** `GET /devices/:device/files?path=`: a listing, or with `stat=true` the path itself only. */
export const FilesQuery = Type.Object(
  {
    path: FilePath,
    stat: Type.Optional(Type.Boolean({ description: 'Describe the path itself instead of listing it.' })),
    offset: Type.Optional(Type.Integer({ minimum: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: FILES_LIST_MAX_LIMIT })),
  },
  strict,
);
export type FilesQuery = Static<typeof FilesQuery>;

export const FilesAnswer = Type.Union([FilesListResult, FilesStatResult]);
export type FilesAnswer = Static<typeof FilesAnswer>;

/** `DELETE /devices/:device/files?path=&recursive=`. */
export const FilesDeleteQuery = Type.Object(
  { path: FilePath, recursive: Type.Optional(Type.Boolean({ description: 'Delete a directory and its contents.' })) },
  strict,
);
export type FilesDeleteQuery = Static<typeof FilesDeleteQuery>;

export const FilesMkdirBody = FilesMkdirArgs;
export type FilesMkdirBody = Static<typeof FilesMkdirBody>;
export const FilesMoveBody = FilesMoveArgs;
export type FilesMoveBody = Static<typeof FilesMoveBody>;
export const FilesFetchBody = FilesFetchArgs;
export type FilesFetchBody = Static<typeof FilesFetchBody>;
/** The answer of `POST /devices/:device/files/fetch`: the `files/fetch` result. */
export const FilesFetchResultSchema = FilesFetchResult;

const Bytes = Type.Integer({ minimum: 0, maximum: MAX_TRANSFER_BYTES });

/**
 * `PUT /devices/:device/files/content?…` with an `application/octet-stream` body:
 * bytes `[offset, size)` of the file. `transfer` names the partial file on the
 * device; an interrupted upload is resumed from `GET …/files/upload-status`.
 */
export const FilesUploadQuery = Type.Object(
  {
    path: FilePath,
    size: Bytes,
    sha256: Sha256Hex,
    transfer: TransferId,
    offset: Type.Optional(Bytes),
    mode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o7777 })),
    owner: Type.Optional(FileOwnerName),
    group: Type.Optional(FileOwnerName),
    overwrite: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type FilesUploadQuery = Static<typeof FilesUploadQuery>;
export const FilesUploadAnswer = FilesUploadResult;
export type FilesUploadAnswer = Static<typeof FilesUploadAnswer>;

/** `GET /devices/:device/files/upload-status?path=&transfer=`. */
export const FilesUploadStatusQuery = FilesUploadStatusArgs;
export type FilesUploadStatusQuery = Static<typeof FilesUploadStatusQuery>;

/** `GET /devices/:device/files/content?path=&offset=` (or `Range: bytes=N-`). */
export const FilesDownloadQuery = Type.Object({ path: FilePath, offset: Type.Optional(Bytes) }, strict);
export type FilesDownloadQuery = Static<typeof FilesDownloadQuery>;

/** Headers of a download answer: the whole file's size and mode; the SHA-256 comes as a trailer. */
export const FILE_SIZE_HEADER = 'x-outpost-size';
export const FILE_MODE_HEADER = 'x-outpost-mode';
export const FILE_SHA256_TRAILER = 'x-outpost-sha256';
