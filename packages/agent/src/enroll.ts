/**
 * Enrollment (docs/protocol.md §Enrollment): connect as user `enroll` with the
 * token, send `EnrollRequest` on this attempt's nonce, wait for `EnrollResponse`.
 * A refused token is final; network trouble is retried with backoff. The token
 * is a credential: it never appears in a log line or an error message.
 */
import { randomBytes } from 'node:crypto';
import {
  type DeviceFacts,
  ENROLL_USERNAME,
  EnrollRequest,
  EnrollResponse,
  OutpostError,
  parse,
  parseJson,
  topics,
} from '@outpost/protocol';
import mqtt from 'mqtt';
import { Backoff, type BackoffOptions, sleep } from './backoff.js';
import { clientOptions, errorCode, isAuthRefusal } from './connection.js';
import { certificateProblem } from './credentials.js';
import { type Logger, redactUrl } from './log.js';

/** The server refused the token: retrying cannot help. */
export class EnrollmentRejected extends Error {
  override readonly name = 'EnrollmentRejected';
}

export interface EnrollOptions {
  server: string;
  ca?: Buffer;
  token: string;
  facts: DeviceFacts;
  /** SPKI PEM: asks for a client certificate for this key instead of a secret. */
  publicKey?: string;
  protocolVersion: 4 | 5;
  log: Logger;
  signal?: AbortSignal;
  backoff?: BackoffOptions;
  /** How long to wait for the server's answer once the request is out (default 30 s). */
  responseTimeoutMs?: number;
}

/** The device's identity and its credential: a secret, or the certificate for the key it sent. */
export type Enrollment = { deviceId: string; status: 'accepted' | 'pending' } & (
  | { secret: string; certificate?: undefined }
  | { certificate: string; secret?: undefined }
);

type Attempt = { ok: true; enrollment: Enrollment } | { ok: false; reason: string };

/** Error codes in `{ok:false}` that mean the token itself is no good. */
const FATAL_CODES = new Set(['E_UNAUTHENTICATED', 'E_DENIED', 'E_EXPIRED']);

/** A fresh nonce: 16 random bytes, url-safe, starting with a letter so it matches ID_PATTERN. */
export function newNonce(): string {
  return `n${randomBytes(16).toString('base64url')}`;
}

/** Enrolls, retrying network failures forever (until `signal` aborts); throws EnrollmentRejected for a bad token. */
export async function enroll(options: EnrollOptions): Promise<Enrollment> {
  const backoff = new Backoff(options.backoff);
  for (;;) {
    const result = await attempt(options);
    if (result.ok) return result.enrollment;
    const delay = backoff.next();
    options.log.warn('enrollment attempt failed; retrying', { reason: result.reason, retryInMs: delay });
    await sleep(delay, options.signal);
  }
}

function attempt(options: EnrollOptions): Promise<Attempt> {
  const { log, signal } = options;
  signal?.throwIfAborted();
  const nonce = newNonce();
  const resTopic = topics.enrollResponse(nonce);
  const client = mqtt.connect(
    options.server,
    clientOptions({
      url: options.server,
      clientId: `enroll-${nonce}`,
      username: ENROLL_USERNAME,
      password: options.token,
      protocolVersion: options.protocolVersion,
      ...(options.ca ? { ca: options.ca } : {}),
    }),
  );
  log.info('enrolling', { server: redactUrl(options.server), nonce });

  return new Promise<Attempt>((resolve, reject) => {
    let settled = false;
    let lastError = 'connection closed';
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: Attempt | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      client.removeAllListeners('close');
      client.on('error', () => {});
      client.end(true);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const onAbort = (): void => finish(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });

    client.on('connect', () => {
      client.subscribe(resTopic, { qos: 1 }, (err) => {
        if (err) {
          finish({ ok: false, reason: 'the server refused the enrollment subscription' });
          return;
        }
        const request = parse(
          EnrollRequest,
          {
            nonce,
            token: options.token,
            facts: options.facts,
            ...(options.publicKey ? { publicKey: options.publicKey } : {}),
          },
          'enrollment request',
        );
        client.publish(topics.enrollRequest(nonce), JSON.stringify(request), { qos: 1 }, (pubErr) => {
          if (pubErr) finish({ ok: false, reason: `could not send the enrollment request: ${pubErr.message}` });
        });
        timer = setTimeout(
          () =>
            finish({
              ok: false,
              // A server from before certificate authentication drops a request with a public key.
              reason: `no enrollment response in time${options.publicKey ? ' (does the server issue client certificates?)' : ''}`,
            }),
          options.responseTimeoutMs ?? 30_000,
        );
      });
    });
    client.on('message', (topic, payload) => {
      if (topic !== resTopic) return;
      let response: EnrollResponse;
      try {
        response = parseJson(EnrollResponse, payload, 'enrollment response');
      } catch (err) {
        finish({ ok: false, reason: err instanceof OutpostError ? err.message : 'invalid enrollment response' });
        return;
      }
      if (response.ok) {
        // The device and its token use now exist on the server: a wrong credential is final, not retried.
        const { deviceId, status } = response;
        if (options.publicKey) {
          const problem =
            response.certificate === undefined
              ? 'the server did not issue a certificate'
              : certificateProblem(response.certificate, options.publicKey, deviceId);
          if (problem || response.certificate === undefined)
            finish(new EnrollmentRejected(`enrollment failed: ${problem}`));
          else finish({ ok: true, enrollment: { deviceId, status, certificate: response.certificate } });
        } else if (response.secret === undefined) {
          finish(new EnrollmentRejected('enrollment failed: the server sent no device secret'));
        } else {
          finish({ ok: true, enrollment: { deviceId, status, secret: response.secret } });
        }
      } else if (FATAL_CODES.has(response.error.code)) {
        finish(new EnrollmentRejected(`enrollment token rejected: ${response.error.message.slice(0, 300)}`));
      } else {
        finish({ ok: false, reason: `${response.error.code}: ${response.error.message.slice(0, 300)}` });
      }
    });
    client.on('error', (err) => {
      if (isAuthRefusal(err)) {
        finish(
          new EnrollmentRejected(
            'enrollment token rejected: the server does not accept it (unknown, revoked, expired or used up)',
          ),
        );
      } else {
        const code = errorCode(err);
        lastError = code !== undefined ? `${code}: ${err.message}` : err.message;
      }
    });
    client.on('close', () => finish({ ok: false, reason: lastError }));
  });
}
