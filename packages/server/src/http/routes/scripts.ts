/**
 * The script library: create, list, show, edit (each edit a new version), delete,
 * show versions, and run a version on a device as an ordinary `exec/run` command
 * whose output streams like any exec (`GET /commands/:id/events`).
 */
import { api } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { sendCommand } from './commands.js';

const {
  Command,
  CreateScriptBody,
  ErrorResponse,
  errors,
  listOf,
  NoContent,
  RunScriptBody,
  Script,
  ScriptRef,
  ScriptRunRef,
  ScriptSummary,
  ScriptVersion,
  ScriptVersionRef,
  ScriptVersionSummary,
  SendCommandQuery,
  UpdateScriptBody,
} = api;

/** Saving can also meet a name taken (409) or content over the cap (413). */
const writeErrors = { ...errors, 409: ErrorResponse, 413: ErrorResponse };
const tags = ['scripts'];

export async function scriptRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const { scripts } = services;

  app.get(
    '/scripts',
    {
      config: { permission: 'scripts:read' },
      schema: {
        summary: "List the library's scripts (latest versions, without content)",
        tags,
        response: { 200: listOf(ScriptSummary), ...errors },
      },
    },
    async () => ({ items: await scripts.list() }),
  );

  app.post<{ Body: api.CreateScriptBody }>(
    '/scripts',
    {
      config: { permission: 'scripts:write', audit: 'script.create' },
      schema: {
        summary: 'Add a script to the library (version 1)',
        tags,
        body: CreateScriptBody,
        response: { 201: Script, ...writeErrors },
      },
    },
    async (req, reply) => {
      req.auditNote = { target: `script:${req.body.name}` };
      const s = await scripts.create(req.body, req.actor);
      req.auditNote = {
        target: `script:${s.name}`,
        details: { version: s.version, interpreter: s.interpreter, sha256: s.sha256 },
      };
      return reply.status(201).send(s);
    },
  );

  app.get<{ Params: api.ScriptRef }>(
    '/scripts/:name',
    {
      config: { permission: 'scripts:read' },
      schema: {
        summary: 'Show a script: its latest version, with content',
        tags,
        params: ScriptRef,
        response: { 200: Script, ...errors },
      },
    },
    async (req) => scripts.get(req.params.name),
  );

  app.put<{ Params: api.ScriptRef; Body: api.UpdateScriptBody }>(
    '/scripts/:name',
    {
      config: { permission: 'scripts:write', audit: 'script.update' },
      schema: {
        summary: 'Edit a script: saves a new version (fields left out keep their value)',
        description: 'An edit that changes nothing adds no version and answers the latest one.',
        tags,
        params: ScriptRef,
        body: UpdateScriptBody,
        response: { 200: Script, ...writeErrors },
      },
    },
    async (req) => {
      req.auditNote = { target: `script:${req.params.name}` };
      const { script, changed } = await scripts.update(req.params.name, req.body, req.actor);
      req.auditNote = {
        target: `script:${script.name}`,
        details: { version: script.version, changed, fields: Object.keys(req.body), sha256: script.sha256 },
      };
      return script;
    },
  );

  app.delete<{ Params: api.ScriptRef }>(
    '/scripts/:name',
    {
      config: { permission: 'scripts:write', audit: 'script.delete' },
      schema: {
        summary: 'Delete a script and all its versions',
        tags,
        params: ScriptRef,
        response: { 204: NoContent, ...errors },
      },
    },
    async (req, reply) => {
      req.auditNote = { target: `script:${req.params.name}` };
      const s = await scripts.remove(req.params.name, req.actor);
      req.auditNote = { target: `script:${s.name}`, details: { versions: s.version } };
      return reply.status(204).send();
    },
  );

  app.get<{ Params: api.ScriptRef }>(
    '/scripts/:name/versions',
    {
      config: { permission: 'scripts:read' },
      schema: {
        summary: "A script's versions, newest first (without content)",
        tags,
        params: ScriptRef,
        response: { 200: listOf(ScriptVersionSummary), ...errors },
      },
    },
    async (req) => ({ items: await scripts.versions(req.params.name) }),
  );

  app.get<{ Params: api.ScriptVersionRef }>(
    '/scripts/:name/versions/:version',
    {
      config: { permission: 'scripts:read' },
      schema: {
        summary: 'Show one version of a script, with content',
        tags,
        params: ScriptVersionRef,
        response: { 200: ScriptVersion, ...errors },
      },
    },
    async (req) => scripts.version(req.params.name, req.params.version),
  );

  app.post<{ Params: api.ScriptRunRef; Body: api.RunScriptBody; Querystring: api.SendCommandQuery }>(
    '/devices/:device/scripts/:name/run',
    {
      config: { permission: 'commands:run', audit: 'script.run' },
      schema: {
        summary: 'Run a library script on a device',
        description:
          'Checks the parameters against the version run (the latest unless `version` is given) and sends an `exec/run` command: 202 with it (follow its output at `/commands/{id}/events`), or with `wait=true` 200 with the finished command when it ends within `timeout`. Queued while the device is offline, until `ttl` passes.',
        tags: [...tags, 'commands'],
        params: ScriptRunRef,
        querystring: SendCommandQuery,
        body: RunScriptBody,
        response: { 200: Command, 202: Command, ...writeErrors },
      },
    },
    async (req, reply) => {
      const { device: deviceRef, name } = req.params;
      req.auditNote = { target: `script:${name}` };
      // The device first: one out of the caller's scope is not found, whatever the script.
      const device = await services.devices.resolve(deviceRef, req.actor);
      const run = await scripts.runArgs(name, req.body);
      const input = {
        capability: 'exec',
        action: 'run',
        args: run.args,
        ...(req.body.ttl !== undefined ? { ttl: req.body.ttl } : {}),
      };
      return sendCommand(services, req, reply, device.id, input, req.query, (c) => ({
        target: c.id,
        deviceId: c.deviceId,
        details: { script: name, version: run.version, params: req.body.params ?? {} },
      }));
    },
  );
}
