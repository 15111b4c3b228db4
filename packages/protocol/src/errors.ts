/** Stable error codes shared by agent, server, CLI and web; errors are values, never stack traces. */
export const ErrorCodes = [
  'E_BAD_ARGS',
  'E_NOT_FOUND',
  'E_DENIED',
  'E_UNAUTHENTICATED',
  'E_TIMEOUT',
  'E_UNSUPPORTED',
  'E_BUSY',
  'E_CONFLICT',
  'E_TOO_LARGE',
  'E_EXPIRED',
  'E_OFFLINE',
  'E_RATE_LIMITED',
  'E_INTERNAL',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

/** The HTTP status each code maps to when it crosses the API. */
export const httpStatusOf: Record<ErrorCode, number> = {
  E_BAD_ARGS: 400,
  E_UNAUTHENTICATED: 401,
  E_DENIED: 403,
  E_NOT_FOUND: 404,
  E_CONFLICT: 409,
  E_EXPIRED: 410,
  E_TOO_LARGE: 413,
  E_RATE_LIMITED: 429,
  E_INTERNAL: 500,
  E_UNSUPPORTED: 501,
  E_OFFLINE: 503,
  E_BUSY: 503,
  E_TIMEOUT: 504,
};

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

/** An error that carries a stable code; the only kind of error allowed to cross a boundary. */
export class OutpostError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'OutpostError';
    this.code = code;
    this.details = details;
  }
  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ErrorCodes as readonly string[]).includes(value);
}

/** Turns anything thrown into an OutpostError without leaking internals (stack, paths, secrets). */
export function toOutpostError(err: unknown): OutpostError {
  if (err instanceof OutpostError) return err;
  return new OutpostError('E_INTERNAL', 'internal error');
}
