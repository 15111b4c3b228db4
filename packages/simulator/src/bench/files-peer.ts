/**
 * Child process of the file-transfer benchmark: a raw-MQTT baseline's device,
 * in its own process as the agent is. It connects to a broker as a device and,
 * on request, either counts the bytes arriving on its
 * `tty/{sid}/in` (the upload direction) or publishes bytes on its
 * `tty/{sid}/out` in frames of the stream layer's size (the download direction): at QoS 0
 * paced by its writes, or at QoS 1 with a bounded number in flight.
 * argv[2]: JSON `{url, caFile, deviceId, secret}` (the baseline broker, or the server's own).
 * IPC in: `{type:'sink', sid, bytes}` | `{type:'source', sid, bytes, frame, qos?, inFlight?}`.
 * IPC out: `{type:'ready'}`, `{type:'subscribed'}`, `{type:'received'}`, `{type:'sent'}`.
 */
import { readFileSync } from 'node:fs';
import { topics } from '@outpost/protocol';
import mqtt from 'mqtt';
import { setNoDelay } from '../device.js';

const { url, caFile, deviceId, secret } = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  caFile: string;
  deviceId: string;
  secret: string;
};
const client = await mqtt.connectAsync(url, {
  ca: readFileSync(caFile),
  clientId: deviceId,
  username: deviceId,
  password: secret,
  clean: true,
  keepalive: 30,
  reconnectPeriod: 0,
  protocolVersion: 4,
});
setNoDelay(client);

let sink: { topic: string; want: number; got: number } | undefined;
client.on('message', (topic, payload) => {
  if (!sink || topic !== sink.topic) return;
  sink.got += payload.length;
  if (sink.got >= sink.want) {
    sink = undefined;
    process.send?.({ type: 'received' });
  }
});

type Request =
  | { type: 'sink'; sid: string; bytes: number }
  | { type: 'source'; sid: string; bytes: number; frame: number; qos?: 0 | 1; inFlight?: number };

process.on('message', (m: Request) => {
  if (m.type === 'sink') {
    const topic = topics.tty(deviceId, m.sid, 'in');
    sink = { topic, want: m.bytes, got: 0 };
    client.subscribeAsync(topic, { qos: 0 }).then(
      () => process.send?.({ type: 'subscribed' }),
      (err: unknown) => process.send?.({ type: 'error', message: String(err) }),
    );
  } else if (m.type === 'source') {
    void (async () => {
      const topic = topics.tty(deviceId, m.sid, 'out');
      const frame = Buffer.alloc(m.frame, 7);
      const count = Math.ceil(m.bytes / frame.length);
      if (m.qos === 1) {
        // QoS 1 with a bounded number in flight, done at the last PUBACK (the broker has handed them on).
        let next = 0;
        const lane = async (): Promise<void> => {
          while (next < count) {
            next++;
            await client.publishAsync(topic, frame, { qos: 1 });
          }
        };
        await Promise.all(Array.from({ length: m.inFlight ?? 32 }, lane));
      } else {
        // Each publish waits for its write, as the stream layer's sender waits for its window.
        for (let i = 0; i < count; i++) await client.publishAsync(topic, frame, { qos: 0 });
      }
      process.send?.({ type: 'sent' });
    })();
  }
});

process.send?.({ type: 'ready' });
const stop = () => {
  const exit = () => process.exit(0);
  client.endAsync(true).then(exit, exit);
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
