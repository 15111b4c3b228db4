/**
 * A bare device for the benchmarks' raw-MQTT baselines: enrolled over MQTT the way
 * an agent enrolls (same nonce topics, same token), without running an agent.
 */
import { randomBytes } from 'node:crypto';
import { topics } from '@outpost/protocol';
import mqtt from 'mqtt';

/** Enrolls a device over MQTT the way an agent does (for the raw client on the server's broker). */
export async function enrollRaw(
  mqttUrl: string,
  ca: Buffer,
  token: string,
): Promise<{ deviceId: string; secret: string }> {
  const nonce = `n${randomBytes(12).toString('hex')}`;
  const client = await mqtt.connectAsync(mqttUrl, {
    ca,
    clientId: `enroll-${nonce}`,
    username: 'enroll',
    password: token,
    reconnectPeriod: 0,
  });
  try {
    const answer = new Promise<{ ok: boolean; deviceId?: string; secret?: string }>((resolve) =>
      client.on('message', (_t, payload) => resolve(JSON.parse(payload.toString('utf8')))),
    );
    await client.subscribeAsync(topics.enrollResponse(nonce), { qos: 1 });
    const facts = {
      hostname: 'bench-files-raw',
      os: 'bench',
      kernel: 'bench',
      arch: 'x64',
      macs: [],
      ips: [],
      agentVersion: '0',
    };
    await client.publishAsync(topics.enrollRequest(nonce), JSON.stringify({ nonce, token, facts }), { qos: 1 });
    const r = await answer;
    if (!r.ok || !r.deviceId || !r.secret) throw new Error(`raw enrollment refused: ${JSON.stringify(r)}`);
    return { deviceId: r.deviceId, secret: r.secret };
  } finally {
    await client.endAsync(true);
  }
}
