/** Who is acting: an API token, later a user session, or the server itself. */
export type Role = 'admin' | 'operator' | 'viewer';

export interface Actor {
  kind: 'token' | 'user' | 'system';
  id: string;
  name: string;
  role: Role;
}

export const systemActor: Actor = { kind: 'system', id: 'system', name: 'system', role: 'admin' };

export function actorRef(actor: Actor): string {
  return `${actor.kind}:${actor.id}`;
}
