/** Who is acting: a user through an API token or a browser session, or the server itself. */
import type { api } from '@outpost/protocol';

export type Role = api.Role;
export const roles: readonly Role[] = ['viewer', 'operator', 'admin'];

export interface Actor {
  kind: 'token' | 'session' | 'system' | 'device';
  /** Token id, session id, or device id. */
  id: string;
  userId: string | null;
  /** The user's name (or the device id), shown in the audit log. */
  name: string;
  role: Role;
  /**
   * Device scopes: each non-empty list of tags must share a tag with a device for
   * the actor to see it (the user's scope and, for tokens, the token's own).
   */
  scopes: string[][];
}

/** The lower of two roles: a token can never do more than its user. */
export function minRole(a: Role, b: Role): Role {
  return roles.indexOf(a) <= roles.indexOf(b) ? a : b;
}

export function roleAtLeast(role: Role, needed: Role): boolean {
  return roles.indexOf(role) >= roles.indexOf(needed);
}

/** How the actor appears in records such as a command's `createdBy`. */
export function actorRef(actor: Actor): string {
  return actor.userId ? `user:${actor.name}` : `${actor.kind}:${actor.id}`;
}

/** True when the actor may see a device with these tags. */
export function inScope(actor: Actor, tags: readonly string[]): boolean {
  return actor.scopes.every((scope) => scope.length === 0 || scope.some((t) => tags.includes(t)));
}
