/** The CLI's error type, the one-line rendering of anything thrown (no stack unless OUTPOST_DEBUG=1), and the reading of the server's error answers. */
import { OutpostError } from '@outpost/protocol';

/** An error the user should see as one line: `error: <message> (<code>)`. */
export class CliError extends Error {
  /** A stable code (a server `E_...` code), shown in parentheses when present. */
  readonly code: string | undefined;
  /** HTTP status when the error came from the server. */
  readonly status: number | undefined;
  readonly exitCode: number;
  /** Seconds the server asked us to wait (E_RATE_LIMITED). */
  readonly retryAfter: number | undefined;
  constructor(
    message: string,
    options: { code?: string; status?: number; exitCode?: number; cause?: unknown; retryAfter?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.code = options.code;
    this.status = options.status;
    this.exitCode = options.exitCode ?? 1;
    this.retryAfter = options.retryAfter;
  }
}

interface SystemErrorLike {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
}

/** The innermost Node/undici error code (`ECONNREFUSED`, `SELF_SIGNED_CERT_IN_CHAIN`...), if any. */
export function systemCode(err: unknown): string | undefined {
  const codes: string[] = [];
  let e = err as SystemErrorLike | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    if (typeof e.code === 'string') codes.push(e.code);
    e = e.cause as SystemErrorLike | undefined;
  }
  // undici wraps the socket's own error (ECONNRESET...), which says more than UND_ERR_SOCKET.
  return codes.find((c) => !c.startsWith('UND_ERR')) ?? codes[0];
}

const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
]);

/** Turns a transport failure talking to `url` into a CliError a person can act on. */
export function networkError(err: unknown, url: string): CliError {
  const code = systemCode(err);
  const at = `${new URL(url).origin}`;
  const opts = { cause: err, ...(code ? { code } : {}) };
  switch (code) {
    case 'ECONNREFUSED':
      return new CliError(`cannot connect to ${at}: connection refused; is the server running?`, opts);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new CliError(`cannot resolve host '${new URL(url).hostname}'`, opts);
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new CliError(`timed out talking to ${at}`, opts);
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return new CliError(`connection to ${at} was closed unexpectedly`, opts);
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return new CliError(`TLS handshake with ${at} failed; is the URL's scheme right?`, opts);
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return new CliError(
        `the TLS certificate of ${at} does not name '${new URL(url).hostname}'; ` +
          'use a name it lists, or start the server with --hostname',
        opts,
      );
    case 'CERT_HAS_EXPIRED':
      return new CliError(`the TLS certificate of ${at} has expired`, opts);
    default:
      if (code && TLS_CODES.has(code)) {
        return new CliError(`cannot verify the TLS certificate of ${at}; pass the server's CA with --ca`, opts);
      }
      return new CliError(`request to ${at} failed: ${messageOf(err)}`, opts);
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The single stderr line for an error; codes are appended in parentheses. */
export function formatError(err: unknown): string {
  if (err instanceof CliError || err instanceof OutpostError) {
    return err.code ? `error: ${err.message} (${err.code})` : `error: ${err.message}`;
  }
  const code = systemCode(err);
  const message = messageOf(err);
  return code && !message.includes(code) ? `error: ${message} (${code})` : `error: ${message}`;
}

/** The exit code a failure maps to. */
export function exitCodeOfError(err: unknown): number {
  return err instanceof CliError ? err.exitCode : 1;
}

/**
 * Reads `{"error": {"code", "message", "details"}}`; anything else still yields a one-line error. A
 * wait the server asks for (`details.retryAfter` or `Retry-After`) is kept and said in the message.
 */
export function apiError(status: number, text: string, retryAfterHeader?: string | string[]): CliError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  const retryAfter = retryAfterSeconds(error?.details, retryAfterHeader);
  const extra = {
    status,
    ...(typeof error?.code === 'string' ? { code: error.code } : {}),
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  };
  let message = error && typeof error.message === 'string' ? error.message : `the server answered HTTP ${status}`;
  if (retryAfter !== undefined && !message.includes(`${retryAfter} s`)) message += `; try again in ${retryAfter} s`;
  return new CliError(message, extra);
}

function retryAfterSeconds(details: unknown, header: string | string[] | undefined): number | undefined {
  const fromBody = (details as { retryAfter?: unknown } | null | undefined)?.retryAfter;
  if (typeof fromBody === 'number' && Number.isFinite(fromBody) && fromBody >= 0) return Math.ceil(fromBody);
  const h = Array.isArray(header) ? header[0] : header;
  return h !== undefined && /^\d+$/.test(h.trim()) ? Number(h) : undefined;
}
