/**
 * The HTTP server: Fastify over HTTPS with the API under /api/v1, its OpenAPI
 * description at /api/docs, and WebSocket upgrades (MQTT at /mqtt).
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import { Ajv } from 'ajv';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import type { Services } from '../services/index.js';
import { VERSION } from '../version.js';
import { installAuth } from './auth.js';
import { installErrorHandling } from './errors.js';
import { apiTokenRoutes } from './routes/api-tokens.js';
import { appRoutes } from './routes/apps.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { commandRoutes } from './routes/commands.js';
import { deviceRoutes } from './routes/devices.js';
import { enrollmentRoutes } from './routes/enrollment.js';
import { fileRoutes } from './routes/files.js';
import { forwardRoutes } from './routes/forward.js';
import { healthRoutes } from './routes/health.js';
import { logRoutes } from './routes/logs.js';
import { metricsRoutes } from './routes/metrics.js';
import { powerRoutes } from './routes/power.js';
import { processRoutes } from './routes/processes.js';
import { scriptRoutes } from './routes/scripts.js';
import { serviceRoutes } from './routes/services.js';
import { terminalRoutes } from './routes/terminal.js';
import { userRoutes } from './routes/users.js';

/** Every API route family, registered under /api/v1: add new ones here. */
const routeFamilies = [
  healthRoutes,
  authRoutes,
  userRoutes,
  apiTokenRoutes,
  auditRoutes,
  enrollmentRoutes,
  deviceRoutes,
  commandRoutes,
  metricsRoutes,
  fileRoutes,
  processRoutes,
  serviceRoutes,
  powerRoutes,
  scriptRoutes,
  logRoutes,
  appRoutes,
  terminalRoutes,
  forwardRoutes,
];

export const BODY_LIMIT_BYTES = 1024 * 1024;

/** Same-origin only, no framing, no plugins: the dashboard needs nothing else. */
export const CSP =
  "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; img-src 'self' data:; connect-src 'self'";

// Bodies are validated strictly (unknown fields and wrong types are errors, never
// silently dropped or coerced); query strings and params need string coercion.
const strictAjv = new Ajv({
  removeAdditional: false,
  coerceTypes: false,
  useDefaults: false,
  allErrors: false,
  strict: false,
});
const queryAjv = new Ajv({
  removeAdditional: false,
  coerceTypes: true,
  useDefaults: false,
  allErrors: false,
  strict: false,
});
// RFC 3339 date-times that also parse to a real instant (2024-13-45 does not).
const dateTime = (s: string): boolean =>
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s));
for (const a of [strictAjv, queryAjv]) a.addFormat('date-time', dateTime);

export async function buildApp(opts: {
  services: Services;
  log: Logger;
  https: { key: string; cert: string } | null;
  /** Called for each WebSocket MQTT connection at /mqtt. */
  onMqttSocket?: (socket: import('ws').WebSocket) => void;
}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.log,
    bodyLimit: BODY_LIMIT_BYTES,
    forceCloseConnections: true,
    ...(opts.https ? { https: { key: opts.https.key, cert: opts.https.cert, minVersion: 'TLSv1.2' as const } } : {}),
  }) as unknown as FastifyInstance;

  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strictAjv : queryAjv).compile(schema));
  installErrorHandling(app);
  installAuth(app, opts.services);

  app.addHook('onSend', async (_req, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    // The API docs page brings its own, stricter-but-hashed CSP (staticCSP); everything else gets ours.
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', CSP);
    if (opts.https) reply.header('strict-transport-security', 'max-age=31536000');
  });
  // A WebSocket upgrade refused with an HTTP answer (401, 403, 404, 503...) is on a socket the HTTP
  // server no longer tracks (no keep-alive timeout, not closed by close()): end it, or it stays open
  // for as long as the client likes. Accepted upgrades are hijacked and never get here.
  app.addHook('onResponse', async (req) => {
    if (req.headers.upgrade?.toLowerCase() === 'websocket' && !req.raw.socket.destroyed) req.raw.socket.destroySoon();
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Outpost API',
        version: VERSION,
        description: 'Remote management for fleets of embedded Linux devices.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/api/docs', staticCSP: true });
  await app.register(fastifyWebsocket, { options: { maxPayload: BODY_LIMIT_BYTES + 64 * 1024 } });

  if (opts.onMqttSocket) {
    const onMqttSocket = opts.onMqttSocket;
    app.get('/mqtt', { websocket: true, config: { public: true }, schema: { hide: true } }, (socket) =>
      onMqttSocket(socket),
    );
  }
  await app.register(
    async (api) => {
      for (const family of routeFamilies) await api.register(family, { services: opts.services });
    },
    { prefix: '/api/v1' },
  );
  return app;
}
