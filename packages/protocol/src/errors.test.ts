/** Stable error codes and their HTTP statuses (docs/protocol.md §Errors); internals never leak. */
import { describe, expect, it } from 'vitest';
import { type ErrorCode, ErrorCodes, httpStatusOf, isErrorCode, OutpostError, toOutpostError } from './errors.js';

/** The table in docs/protocol.md §Errors. */
const documented: Record<ErrorCode, number> = {
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

describe('error codes', () => {
  it.each(ErrorCodes)('%s has the documented HTTP status', (code) => {
    expect(httpStatusOf[code]).toBe(documented[code]);
  });

  it('maps exactly the known codes, each once', () => {
    expect(new Set(ErrorCodes).size).toBe(ErrorCodes.length);
    expect(Object.keys(httpStatusOf).sort()).toEqual([...ErrorCodes].sort());
    expect(Object.keys(documented).sort()).toEqual([...ErrorCodes].sort());
  });

  it('every status is an HTTP error status', () => {
    for (const code of ErrorCodes) {
      const status = httpStatusOf[code];
      expect(status >= 400 && status < 600, code).toBe(true);
    }
  });

  it('isErrorCode recognises exactly the codes', () => {
    for (const code of ErrorCodes) expect(isErrorCode(code)).toBe(true);
    for (const v of ['E_NOPE', 'e_busy', '', 'toString', '__proto__', 400, null, undefined, {}]) {
      expect(isErrorCode(v), String(v)).toBe(false);
    }
  });
});

describe('OutpostError', () => {
  it('carries its code, message and details', () => {
    const err = new OutpostError('E_NOT_FOUND', 'no such device', { deviceId: 'd-x' });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('OutpostError');
    expect(err.code).toBe('E_NOT_FOUND');
    expect(err.message).toBe('no such device');
    expect(err.toBody()).toEqual({ code: 'E_NOT_FOUND', message: 'no such device', details: { deviceId: 'd-x' } });
  });

  it('toBody omits details when there are none, and never carries a stack', () => {
    const body = new OutpostError('E_BUSY', 'busy').toBody();
    expect(body).toEqual({ code: 'E_BUSY', message: 'busy' });
    expect(Object.keys(body)).toEqual(['code', 'message']);
    expect(JSON.stringify(body)).not.toContain('at ');
  });

  it('keeps falsy details that are not undefined', () => {
    expect(new OutpostError('E_BUSY', 'busy', null).toBody()).toEqual({
      code: 'E_BUSY',
      message: 'busy',
      details: null,
    });
    expect(new OutpostError('E_BUSY', 'busy', 0).toBody()).toHaveProperty('details', 0);
  });
});

describe('toOutpostError', () => {
  it('passes an OutpostError through unchanged', () => {
    const err = new OutpostError('E_CONFLICT', 'device is revoked');
    expect(toOutpostError(err)).toBe(err);
  });

  it.each([
    ['an Error with a path', new Error("ENOENT: no such file or directory, open '/var/lib/outpost/ca.key'")],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'secret')")],
    [
      'an Error with a secret',
      Object.assign(new Error('password authentication failed: hunter2'), { code: 'E_DENIED' }),
    ],
    ['a string', 'postgres://admin:hunter2@db/outpost'],
    ['an object that looks like an error body', { code: 'E_DENIED', message: 'hunter2' }],
    ['null', null],
    ['undefined', undefined],
  ])('hides %s behind E_INTERNAL "internal error"', (_label, thrown) => {
    const err = toOutpostError(thrown);
    expect(err).toBeInstanceOf(OutpostError);
    expect(err.code).toBe('E_INTERNAL');
    expect(err.message).toBe('internal error');
    expect(err.toBody()).toEqual({ code: 'E_INTERNAL', message: 'internal error' });
    const wire = JSON.stringify(err.toBody());
    for (const leak of ['hunter2', '/var/lib', 'secret', 'ENOENT']) expect(wire).not.toContain(leak);
  });
});
