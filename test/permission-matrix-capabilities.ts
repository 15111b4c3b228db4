/**
 * The permission matrix's rows for the device capability routes (metrics, processes,
 * services, power, files, commands, logs, apps, scripts, forward): see
 * test/permission-matrix.ts for the platform routes and what a row means.
 */
import { expect, vi } from 'vitest';
import { agentFile, payloadUrl } from './files-fixtures.js';
import type { MatrixHelpers, Row } from './permission-matrix.js';

export function capabilityRoutes(h: MatrixHelpers): Record<string, Row> {
  const {
    V1,
    SCRIPT,
    HELLO_SHA256,
    fx,
    unique,
    dev,
    cmd,
    get,
    labState,
    labFiles,
    admin,
    matrixApp,
    runningCommand,
    prodAgentPid,
  } = h;
  return {
    // Capability routes (device-action.ts): a command on an online device in scope, answered in the request.
    [`GET ${V1}/devices/:device/info`]: {
      access: 'devices:read',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/devices/${dev(c)}/info`),
    },
    // Port forwarding (routes/forward.ts): without a WebSocket upgrade, the check the CLI makes before it listens.
    [`GET ${V1}/devices/:device/forward`]: {
      access: 'commands:run',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/devices/${dev(c)}/forward?host=localhost&port=22`),
    },
    // Metrics (routes/metrics.ts): history and the stored last sample, read on the server; live asks the agent.
    [`GET ${V1}/devices/:device/metrics`]: {
      access: 'devices:read',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/devices/${dev(c)}/metrics?series=cpu`),
    },
    [`GET ${V1}/devices/:device/metrics/latest`]: {
      access: 'devices:read',
      scoped: true,
      ok: 200,
      call: async (c) => {
        // The lab agent heartbeats every second; its first stored sample is what this reads.
        if (c.target === 'in')
          await vi.waitFor(async () => expect((await admin('GET', `/devices/${fx.lab}`)).metrics).not.toBeNull(), {
            timeout: 15_000,
          });
        return { url: `${V1}/devices/${dev(c)}/metrics/latest` };
      },
    },
    [`GET ${V1}/devices/:device/metrics/live`]: {
      access: 'devices:read',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/devices/${dev(c)}/metrics/live`),
    },
    // Processes, services, power (routes/processes.ts, services.ts, power.ts). The signal is CONT to the
    // prod agent's process (harmless); the lab agent has no systemd, so service routes answer 501 E_UNSUPPORTED;
    // reboot/shutdown are scheduled an hour out and cancelled before each call, and both agents run with
    // OUTPOST_AGENT_POWER_COMMAND=/bin/true, so nothing can ever reboot this machine.
    [`GET ${V1}/devices/:device/processes`]: {
      access: 'devices:read',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/devices/${dev(c)}/processes?fast=true&limit=5`),
    },
    [`POST ${V1}/devices/:device/processes/:pid/signal`]: {
      access: 'commands:run',
      audit: 'process.signal',
      scoped: true,
      ok: 200,
      call: (c) => ({ url: `${V1}/devices/${dev(c)}/processes/${prodAgentPid()}/signal`, body: { signal: 'CONT' } }),
    },
    [`GET ${V1}/devices/:device/services`]: {
      access: 'devices:read',
      scoped: true,
      ok: 501,
      call: get((c) => `${V1}/devices/${dev(c)}/services`),
    },
    [`GET ${V1}/devices/:device/services/:unit`]: {
      access: 'devices:read',
      scoped: true,
      ok: 501,
      call: get((c) => `${V1}/devices/${dev(c)}/services/ssh.service`),
    },
    ...Object.fromEntries(
      ['start', 'stop', 'restart', 'enable', 'disable'].map((act): [string, Row] => [
        `POST ${V1}/devices/:device/services/:unit/${act}`,
        {
          access: 'commands:run',
          audit: `service.${act}`,
          scoped: true,
          ok: 501,
          call: (c) => ({ url: `${V1}/devices/${dev(c)}/services/ssh.service/${act}` }),
        },
      ]),
    ),
    ...Object.fromEntries(
      ['reboot', 'shutdown'].map((act): [string, Row] => [
        `POST ${V1}/devices/:device/${act}`,
        {
          access: 'commands:run',
          audit: `device.${act}`,
          scoped: true,
          ok: 200,
          call: async (c) => {
            if (c.allowed && c.target === 'in') await admin('POST', `/devices/${fx.lab}/power/cancel`);
            return { url: `${V1}/devices/${dev(c)}/${act}`, body: { delaySeconds: 3600, reason: 'permission matrix' } };
          },
        },
      ]),
    ),
    [`POST ${V1}/devices/:device/power/cancel`]: {
      access: 'commands:run',
      audit: 'device.power-cancel',
      scoped: true,
      ok: 200,
      call: (c) => ({ url: `${V1}/devices/${dev(c)}/power/cancel` }),
    },
    [`GET ${V1}/devices/:device/power`]: {
      access: 'devices:read',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/devices/${dev(c)}/power`),
    },
    // Files (routes/files.ts): paths inside the lab agent's own data folder (`<stateDir>/files`), made here when needed.
    [`GET ${V1}/devices/:device/files`]: {
      access: 'devices:read',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/devices/${dev(c)}/files?path=${encodeURIComponent(labFiles())}`),
    },
    [`POST ${V1}/devices/:device/files/mkdir`]: {
      access: 'commands:run',
      audit: 'file.mkdir',
      scoped: true,
      ok: 200,
      call: (c) => ({
        url: `${V1}/devices/${dev(c)}/files/mkdir`,
        body: { path: `${labFiles()}/${unique('made')}/x`, recursive: true },
      }),
    },
    [`POST ${V1}/devices/:device/files/move`]: {
      access: 'commands:run',
      audit: 'file.move',
      scoped: true,
      ok: 200,
      call: (c) => {
        const from = c.allowed ? agentFile(labState(), unique('moved')) : `${labFiles()}/nothing`;
        return { url: `${V1}/devices/${dev(c)}/files/move`, body: { from, to: `${from}-renamed` } };
      },
    },
    [`DELETE ${V1}/devices/:device/files`]: {
      access: 'commands:run',
      audit: 'file.delete',
      scoped: true,
      ok: 200,
      // allowed: false still names a real directory: a call that wrongly got through would show.
      call: (c) => {
        const path = c.allowed ? agentFile(labState(), unique('doomed-file')) : agentFile(labState(), 'kept', 'dir');
        return { url: `${V1}/devices/${dev(c)}/files?path=${encodeURIComponent(path)}` };
      },
    },
    [`GET ${V1}/devices/:device/files/upload-status`]: {
      access: 'devices:read',
      scoped: true,
      ok: 200,
      call: get(
        (c) =>
          `${V1}/devices/${dev(c)}/files/upload-status?path=${encodeURIComponent(`${labFiles()}/up`)}&transfer=matrix-transfer`,
      ),
    },
    // A raw octet-stream body, streamed to the device over a byte stream.
    [`PUT ${V1}/devices/:device/files/content`]: {
      access: 'commands:run',
      audit: 'file.upload',
      scoped: true,
      ok: 200,
      call: (c) => ({
        url: `${V1}/devices/${dev(c)}/files/content?${new URLSearchParams({
          path: `${labFiles()}/${unique('uploaded')}`,
          size: '5',
          sha256: HELLO_SHA256,
          transfer: unique('matrix-upload'),
        })}`,
        body: Buffer.from('hello'),
        headers: { 'content-type': 'application/octet-stream' },
      }),
    },
    [`GET ${V1}/devices/:device/files/content`]: {
      access: 'commands:run',
      audit: 'file.download',
      scoped: true,
      ok: 200,
      call: get(
        (c) => `${V1}/devices/${dev(c)}/files/content?path=${encodeURIComponent(agentFile(labState(), 'readable'))}`,
      ),
    },
    [`POST ${V1}/devices/:device/files/fetch`]: {
      access: 'commands:run',
      audit: 'file.fetch',
      scoped: true,
      ok: 200,
      call: async (c) => ({
        url: `${V1}/devices/${dev(c)}/files/fetch`,
        body: { url: await payloadUrl(), path: `${labFiles()}/${unique('fetched')}` },
      }),
    },

    // Commands: on a device in scope; a command of a device out of scope does not exist for the caller.
    [`POST ${V1}/devices/:device/commands`]: {
      access: 'commands:run',
      audit: 'command.send',
      scoped: true,
      ok: 202,
      call: (c) => ({ url: `${V1}/devices/${dev(c)}/commands`, body: { capability: 'system', action: 'ping' } }),
    },
    [`GET ${V1}/devices/:device/commands`]: {
      access: 'commands:read',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/devices/${dev(c)}/commands`),
    },
    [`GET ${V1}/commands/:id`]: {
      access: 'commands:read',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/commands/${cmd(c)}`),
    },
    // The SSE stream: the command is finished, so an allowed stream ends at once with its `end` event.
    [`GET ${V1}/commands/:id/events`]: {
      access: 'commands:read',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/commands/${cmd(c)}/events`),
    },

    // Logs and supervised apps (routes/logs.ts, routes/apps.ts): commands on the lab agent; the app acted on is made once.
    [`GET ${V1}/devices/:device/logs`]: {
      access: 'devices:read',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/devices/${dev(c)}/logs?source=agent&lines=5`),
    },
    [`POST ${V1}/commands/:id/cancel`]: {
      access: 'commands:run',
      audit: 'command.cancel',
      scoped: true,
      ok: 200,
      // Allowed and in scope: a fresh long exec on the lab agent to stop.
      call: async (c) => ({
        url: `${V1}/commands/${c.allowed && c.target === 'in' ? await runningCommand() : cmd(c)}/cancel`,
      }),
    },
    [`GET ${V1}/devices/:device/apps`]: {
      access: 'devices:read',
      scoped: true,
      ok: 200,
      call: get((c) => `${V1}/devices/${dev(c)}/apps`),
    },
    [`GET ${V1}/devices/:device/apps/:name`]: {
      access: 'devices:read',
      scoped: true,
      ok: 200,
      call: async (c) => ({ url: `${V1}/devices/${dev(c)}/apps/${await matrixApp()}` }),
    },
    [`POST ${V1}/devices/:device/apps`]: {
      access: 'commands:run',
      audit: 'app.install',
      scoped: true,
      ok: 200,
      call: (c) => ({
        url: `${V1}/devices/${dev(c)}/apps`,
        body: { name: unique('matrix-app'), script: 'true', interpreter: 'sh', autostart: false },
      }),
    },
    ...Object.fromEntries(
      ['start', 'stop', 'restart'].map((verb): [string, Row] => [
        `POST ${V1}/devices/:device/apps/:name/${verb}`,
        {
          access: 'commands:run',
          audit: `app.${verb}`,
          scoped: true,
          ok: 200,
          call: async (c) => ({ url: `${V1}/devices/${dev(c)}/apps/${await matrixApp()}/${verb}` }),
        },
      ]),
    ),
    [`DELETE ${V1}/devices/:device/apps/:name`]: {
      access: 'commands:run',
      audit: 'app.uninstall',
      scoped: true,
      ok: 200,
      call: async (c) => {
        if (!c.allowed || c.target === 'out') return { url: `${V1}/devices/${dev(c)}/apps/${await matrixApp()}` };
        const doomed = unique('doomed-app');
        await admin('POST', `/devices/${fx.lab}/apps`, {
          name: doomed,
          script: 'true',
          interpreter: 'sh',
          autostart: false,
        });
        return { url: `${V1}/devices/${dev(c)}/apps/${doomed}` };
      },
    },

    // The script library: shared by every device, so not scoped; running one is a command on a device.
    [`GET ${V1}/scripts`]: { access: 'scripts:read', ok: 200, call: get(`${V1}/scripts`) },
    [`POST ${V1}/scripts`]: {
      access: 'scripts:write',
      audit: 'script.create',
      ok: 201,
      call: () => ({
        url: `${V1}/scripts`,
        body: { name: unique('matrix-script'), interpreter: 'sh', content: 'true' },
      }),
    },
    [`GET ${V1}/scripts/:name`]: { access: 'scripts:read', ok: 200, call: get(`${V1}/scripts/${SCRIPT}`) },
    [`PUT ${V1}/scripts/:name`]: {
      access: 'scripts:write',
      audit: 'script.update',
      ok: 200,
      call: () => ({ url: `${V1}/scripts/${SCRIPT}`, body: { content: `echo ${unique('edit')}` } }),
    },
    [`DELETE ${V1}/scripts/:name`]: {
      access: 'scripts:write',
      audit: 'script.delete',
      ok: 204,
      call: async (c) => {
        if (!c.allowed) return { url: `${V1}/scripts/${SCRIPT}` };
        const doomed = unique('doomed-script');
        await admin('POST', '/scripts', { name: doomed, interpreter: 'sh', content: 'true' });
        return { url: `${V1}/scripts/${doomed}` };
      },
    },
    [`GET ${V1}/scripts/:name/versions`]: {
      access: 'scripts:read',
      ok: 200,
      call: get(`${V1}/scripts/${SCRIPT}/versions`),
    },
    [`GET ${V1}/scripts/:name/versions/:version`]: {
      access: 'scripts:read',
      ok: 200,
      call: get(`${V1}/scripts/${SCRIPT}/versions/1`),
    },
    [`POST ${V1}/devices/:device/scripts/:name/run`]: {
      access: 'commands:run',
      audit: 'script.run',
      scoped: true,
      ok: 202,
      call: (c) => ({ url: `${V1}/devices/${dev(c)}/scripts/${SCRIPT}/run`, body: { params: { who: 'matrix' } } }),
    },
  };
}
