/**
 * `files/*`: list, stat, make, delete and move files on the device, and fetch a
 * URL into a file, all inside the agent's allowed roots (docs/protocol.md §Files).
 * Paths are absolute; the agent refuses `..`, NUL bytes and anything that
 * resolves (through symlinks too) outside its roots.
 */
import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

/** An absolute path on the device. The agent checks the rest (`..`, NUL, roots, symlinks). */
export const FilePath = Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' });
/** Permission bits, e.g. 0o644 = 420. */
export const FileMode = Type.Integer({ minimum: 0, maximum: 0o7777 });
/** A user or group: a name or a numeric id. */
export const FileOwnerName = Type.String({ pattern: '^([a-z_][a-z0-9_.-]{0,31}\\$?|[0-9]{1,10})$' });
/** A SHA-256 digest, lower-case hex. */
export const Sha256Hex = Type.String({ pattern: '^[0-9a-f]{64}$' });

export const FileType = Type.Union([
  Type.Literal('file'),
  Type.Literal('dir'),
  Type.Literal('symlink'),
  Type.Literal('fifo'),
  Type.Literal('socket'),
  Type.Literal('char'),
  Type.Literal('block'),
  Type.Literal('other'),
]);
export type FileType = Static<typeof FileType>;

/** One file as `lstat` sees it: a symlink is described, not followed. */
export const FileEntry = Type.Object(
  {
    name: Type.String(),
    type: FileType,
    size: Type.Integer({ minimum: 0 }),
    /** Permission bits (`mode & 0o7777`). */
    mode: FileMode,
    uid: Type.Integer({ minimum: 0 }),
    gid: Type.Integer({ minimum: 0 }),
    /** Last modification, ms since the epoch. */
    mtime: Type.Integer(),
    /** Where a symlink points (as stored in the link), for `type: symlink`. */
    target: Type.Optional(Type.String()),
  },
  strict,
);
export type FileEntry = Static<typeof FileEntry>;

export const FILES_LIST_DEFAULT_LIMIT = 1000;
export const FILES_LIST_MAX_LIMIT = 2000;

export const FilesListArgs = Type.Object(
  {
    path: FilePath,
    /** Entries to skip (sorted by name): the `next` of the previous page. */
    offset: Type.Optional(Type.Integer({ minimum: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: FILES_LIST_MAX_LIMIT })),
  },
  strict,
);
export type FilesListArgs = Static<typeof FilesListArgs>;

/** A directory's entries sorted by name (a page of them); a path that is not a directory lists itself. */
export const FilesListResult = Type.Object(
  {
    path: Type.String(),
    /** The type of `path` itself (a symlink to a directory inside the roots is listed as `dir`). */
    type: FileType,
    entries: Type.Array(FileEntry),
    /** Entries in the directory in all. */
    total: Type.Integer({ minimum: 0 }),
    /** The offset of the next page, or null when this was the last. */
    next: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  },
  strict,
);
export type FilesListResult = Static<typeof FilesListResult>;

export const FilesStatArgs = Type.Object({ path: FilePath }, strict);
export type FilesStatArgs = Static<typeof FilesStatArgs>;
export const FilesStatResult = Type.Object({ path: Type.String(), entry: FileEntry }, strict);
export type FilesStatResult = Static<typeof FilesStatResult>;

export const FilesMkdirArgs = Type.Object(
  {
    path: FilePath,
    /** Make missing parents too, and succeed when the directory exists (`mkdir -p`). */
    recursive: Type.Optional(Type.Boolean()),
    /** Mode of the directories made (default 0o755), set exactly (not masked by the umask). */
    mode: Type.Optional(FileMode),
  },
  strict,
);
export type FilesMkdirArgs = Static<typeof FilesMkdirArgs>;
export const FilesMkdirResult = Type.Object(
  { path: Type.String(), created: Type.Boolean({ description: 'False when it existed already (recursive).' }) },
  strict,
);
export type FilesMkdirResult = Static<typeof FilesMkdirResult>;

export const FilesDeleteArgs = Type.Object(
  {
    path: FilePath,
    /** Delete a directory with everything in it; without it only an empty directory goes. */
    recursive: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type FilesDeleteArgs = Static<typeof FilesDeleteArgs>;
export const FilesDeleteResult = Type.Object({ path: Type.String(), type: FileType }, strict);
export type FilesDeleteResult = Static<typeof FilesDeleteResult>;

export const FilesMoveArgs = Type.Object(
  {
    from: FilePath,
    to: FilePath,
    /** Replace an existing `to` (a file, or an empty directory when moving a directory). */
    overwrite: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type FilesMoveArgs = Static<typeof FilesMoveArgs>;
export const FilesMoveResult = Type.Object({ from: Type.String(), to: Type.String(), type: FileType }, strict);
export type FilesMoveResult = Static<typeof FilesMoveResult>;

export const FETCH_DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;
export const FETCH_DEFAULT_TIMEOUT_MS = 10 * 60_000;
export const FETCH_DEFAULT_MAX_REDIRECTS = 5;

export const FilesFetchArgs = Type.Object(
  {
    /** http:// or https://, without credentials (they would be stored with the command). */
    url: Type.String({ minLength: 1, maxLength: 8192, pattern: '^[Hh][Tt][Tt][Pp][Ss]?://' }),
    path: FilePath,
    /** The download must have this SHA-256, else nothing is written. */
    sha256: Type.Optional(Sha256Hex),
    /** Refuse a download larger than this (default 1 GiB). */
    maxBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024 * 1024 })),
    /** The whole download must finish within this (default 10 min). */
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 24 * 3600 * 1000 })),
    maxRedirects: Type.Optional(Type.Integer({ minimum: 0, maximum: 20 })),
    /** Mode of the file (default 0o644). */
    mode: Type.Optional(FileMode),
    owner: Type.Optional(FileOwnerName),
    group: Type.Optional(FileOwnerName),
    /** Replace an existing file at `path` (default true, like `curl -o`). */
    overwrite: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type FilesFetchArgs = Static<typeof FilesFetchArgs>;
export const FilesFetchResult = Type.Object(
  {
    path: Type.String(),
    size: Type.Integer({ minimum: 0 }),
    sha256: Sha256Hex,
    /** The URL the bytes came from after redirects (credentials never appear). */
    finalUrl: Type.String(),
    redirects: Type.Integer({ minimum: 0 }),
    durationMs: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type FilesFetchResult = Static<typeof FilesFetchResult>;

/**
 * One progress line of `files/fetch`, sent as an `out` chunk on `stdout`
 * (newline-terminated JSON) at most about once a second and once at the end.
 */
export const FilesFetchProgress = Type.Object(
  { received: Type.Integer({ minimum: 0 }), total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]) },
  strict,
);
export type FilesFetchProgress = Static<typeof FilesFetchProgress>;

/** A transfer's id: names its partial file, so a later attempt with the same id resumes it. */
export const TransferId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{7,63}$' });
/** The byte stream (`tty/{sid}/in|out`) the server opened for a transfer. */
const StreamId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' });
/** Largest file a transfer takes: 64 GiB. */
export const MAX_TRANSFER_BYTES = 64 * 1024 * 1024 * 1024;
const ByteCount = Type.Integer({ minimum: 0, maximum: MAX_TRANSFER_BYTES });

export const FilesUploadArgs = Type.Object(
  {
    sid: StreamId,
    path: FilePath,
    /** Size of the whole file. */
    size: ByteCount,
    /** SHA-256 of the whole file: checked before it replaces anything. */
    sha256: Sha256Hex,
    transfer: TransferId,
    /** Where this attempt starts: 0, or the size of the partial file `files/upload-status` reported. */
    offset: Type.Optional(ByteCount),
    mode: Type.Optional(FileMode),
    owner: Type.Optional(FileOwnerName),
    group: Type.Optional(FileOwnerName),
    /** Replace an existing file (default true, like `cp`). */
    overwrite: Type.Optional(Type.Boolean()),
  },
  strict,
);
export type FilesUploadArgs = Static<typeof FilesUploadArgs>;
export const FilesUploadResult = Type.Object(
  {
    path: Type.String(),
    size: ByteCount,
    sha256: Sha256Hex,
    /** The offset this attempt started from (bytes already on the device). */
    resumedFrom: ByteCount,
    durationMs: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type FilesUploadResult = Static<typeof FilesUploadResult>;

export const FilesUploadStatusArgs = Type.Object({ path: FilePath, transfer: TransferId }, strict);
export type FilesUploadStatusArgs = Static<typeof FilesUploadStatusArgs>;
export const FilesUploadStatusResult = Type.Object(
  {
    path: Type.String(),
    transfer: Type.String(),
    /** Bytes of the transfer's partial file on the device (0 when there is none): resume from here. */
    size: ByteCount,
    exists: Type.Boolean(),
  },
  strict,
);
export type FilesUploadStatusResult = Static<typeof FilesUploadStatusResult>;

export const FilesDownloadArgs = Type.Object(
  {
    sid: StreamId,
    path: FilePath,
    /** Start at this byte (resume); the SHA-256 in the answer is still the whole file's. */
    offset: Type.Optional(ByteCount),
  },
  strict,
);
export type FilesDownloadArgs = Static<typeof FilesDownloadArgs>;
export const FilesDownloadResult = Type.Object(
  {
    path: Type.String(),
    size: ByteCount,
    sha256: Sha256Hex,
    /** Bytes sent on the stream (size − offset). */
    sent: ByteCount,
    durationMs: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type FilesDownloadResult = Static<typeof FilesDownloadResult>;

/**
 * The CONTROL messages of a download stream, device → server: `start` before the
 * first byte, `end` with the whole file's SHA-256 after the last (before FIN).
 */
export const FilesDownloadStart = Type.Object(
  {
    kind: Type.Literal('start'),
    size: ByteCount,
    offset: ByteCount,
    mode: FileMode,
    mtime: Type.Integer(),
  },
  strict,
);
export type FilesDownloadStart = Static<typeof FilesDownloadStart>;
export const FilesDownloadEnd = Type.Object({ kind: Type.Literal('end'), sha256: Sha256Hex, size: ByteCount }, strict);
export type FilesDownloadEnd = Static<typeof FilesDownloadEnd>;
