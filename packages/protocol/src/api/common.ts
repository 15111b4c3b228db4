/**
 * Shapes every route of the HTTP API (`/api/v1`) shares: times, tags, references,
 * the error answer and lists. These schemas validate requests on the server, feed
 * its OpenAPI description and type the CLI's calls: change one and all three follow.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { ID_PATTERN } from '../topics.js';

const strict = { additionalProperties: false } as const;

/** An ISO 8601 instant, or null when it has not happened (yet). */
export const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
export type Time = Static<typeof Time>;

/** A device tag, also used as a device scope by users and tokens. */
export const Tag = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$' });
export type Tag = Static<typeof Tag>;

/** `:device` in a path: a device's id or its unique name. */
export const DeviceRef = Type.Object({ device: Type.String({ minLength: 1, maxLength: 128 }) }, strict);
export type DeviceRef = Static<typeof DeviceRef>;

/** `:id` in a path. */
export const IdParam = Type.Object({ id: Type.String({ pattern: ID_PATTERN }) }, strict);
export type IdParam = Static<typeof IdParam>;

/** `?all=true`: admins list everyone's, not only their own. */
export const AllQuery = Type.Object({ all: Type.Optional(Type.Boolean()) }, strict);
export type AllQuery = Static<typeof AllQuery>;

/** A stable error code with a message (and sometimes details such as `retryAfter`). */
export const ApiError = Type.Object({
  code: Type.String(),
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
});
export type ApiError = Static<typeof ApiError>;

/** Every non-2xx answer: `{error: {code, message, details?}}`. */
export const ErrorResponse = Type.Object({ error: ApiError }, { $id: 'Error' });
export type ErrorResponse = Static<typeof ErrorResponse>;

/** Standard error responses every authenticated route may give. */
export const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
} as const;

/** The answer of a 204: no body. */
export const NoContent = Type.Null();

/** A list answer: `{items: [...]}`. */
export const listOf = <T extends TSchema>(item: T) => Type.Object({ items: Type.Array(item) });
export interface List<T> {
  items: T[];
}
