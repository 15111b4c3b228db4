/**
 * Port forwarding (docs/forward.md): `GET /devices/:device/forward?host=&port=`
 * upgrades to a WebSocket carrying one TCP connection made by the device, as one
 * byte stream (binary frames both ways, JSON events from the server). A client
 * forwards many connections at once by opening one WebSocket per connection.
 * Operators and admins only; every connection is audited.
 */
import { api, OutpostError } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { checkSameOrigin } from './terminal.js';

const { DeviceRef, ErrorResponse, errors, ForwardCheck, ForwardQuery } = api;

/** The device-side host when the query names none: the device itself. */
const DEFAULT_HOST = 'localhost';

export async function forwardRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  app.route<{ Params: api.DeviceRef; Querystring: api.ForwardQuery }>({
    method: 'GET',
    url: '/devices/:device/forward',
    config: { permission: 'commands:run', auditRefused: 'forward.open' },
    schema: {
      summary: 'Forward one TCP connection to a port the device can reach (WebSocket)',
      description:
        'With a WebSocket upgrade: carries one byte stream (docs/protocol.md §Byte streams) that the device connects to `host:port` (default host `localhost`, as the device resolves it). Binary messages are stream frames both ways; text messages from the server are JSON events `opened`, `error` and `end` (with the `forward/open` command, whose result gives how it ended and the bytes each way). The device refuses targets outside its `forwardAllow` rules (E_DENIED) and answers E_NOT_FOUND when nothing listens there. Open one WebSocket per connection; any number run at once. Without an upgrade: checks that the caller may forward to this online device and answers which device and target it would be (the CLI does this before it listens). Operators and admins only; connections are audited as `forward.open` and `forward.close`.',
      tags: ['forward'],
      params: DeviceRef,
      querystring: ForwardQuery,
      response: { 200: ForwardCheck, ...errors, 503: ErrorResponse },
    },
    preValidation: async (req) => {
      // Browsers send cookies on a cross-site WebSocket, never readably on a cross-site GET: only upgrades need it.
      if (req.ws) checkSameOrigin(req);
      // Refuse before the upgrade what can be refused: unknown or out-of-scope devices, offline ones.
      const device = await services.devices.resolve(req.params.device, req.actor);
      if (device.online !== 1) throw new OutpostError('E_OFFLINE', `device ${device.id} is offline`);
    },
    handler: async (req): Promise<api.ForwardCheck> => {
      const device = await services.devices.resolve(req.params.device, req.actor);
      return {
        deviceId: device.id,
        deviceName: device.name,
        host: req.query.host ?? DEFAULT_HOST,
        port: req.query.port,
      };
    },
    wsHandler: (socket, req) => {
      services.forwards
        .open(socket, {
          device: req.params.device,
          actor: req.actor,
          ip: req.ip,
          host: req.query.host ?? DEFAULT_HOST,
          port: req.query.port,
        })
        .catch((err: unknown) => {
          const e = err instanceof OutpostError ? err : new OutpostError('E_INTERNAL', 'internal error');
          if (!(err instanceof OutpostError)) req.log.error({ err }, 'forward failed');
          if (socket.readyState === socket.OPEN) {
            socket.send(JSON.stringify({ type: 'error', error: e.toBody() }));
            socket.close(4000, e.code);
          }
        });
    },
  });
}
