/**
 * Child process of the file-transfer benchmark: the party outside the device,
 * in its own process as a real CLI is. For the API path it uploads a file with
 * `PUT …/files/content` and downloads it with `GET …/files/content`; for the
 * raw baseline it is an MQTT client of the baseline broker that publishes the
 * same number of bytes in stream-sized frames to the device, or receives them.
 * argv[2]: JSON `{caFile, http: {base, token}, mqtt: {url, username, password}}`.
 * IPC in: `{type:'put'|'get', query, bytes, file?}` | `{type:'publish'|'sink', topic, bytes, frame?}`.
 * IPC out: `{type:'ready'}`, `{type:'subscribed'}`, `{type:'done'}` or `{type:'error', message}`.
 */
import { createReadStream, readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { Agent, request } from 'undici';
import { setNoDelay } from '../device.js';

const config = JSON.parse(process.argv[2] ?? '{}') as {
  caFile: string;
  http: { base: string; token: string };
  mqtt: { url: string; username: string; password: string };
};
const ca = readFileSync(config.caFile);
const http = new Agent({ connect: { ca }, connections: 1 });
const client = await mqtt.connectAsync(config.mqtt.url, {
  ca,
  clientId: `bench-files-client-${process.pid}`,
  username: config.mqtt.username,
  password: config.mqtt.password,
  clean: true,
  keepalive: 30,
  reconnectPeriod: 0,
  protocolVersion: 4,
});
setNoDelay(client);

type Request =
  | { type: 'put'; query: string; bytes: number; file: string }
  | { type: 'get'; query: string; bytes: number }
  | { type: 'publish'; topic: string; bytes: number; frame: number }
  | { type: 'sink'; topic: string; bytes: number };

const timeouts = { headersTimeout: 600_000, bodyTimeout: 600_000 };
const auth = { authorization: `Bearer ${config.http.token}` };

async function put(m: Extract<Request, { type: 'put' }>): Promise<void> {
  const res = await request(`${config.http.base}?${m.query}`, {
    method: 'PUT',
    dispatcher: http,
    headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(m.bytes) },
    body: createReadStream(m.file, { highWaterMark: 64 * 1024 }),
    ...timeouts,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`upload: ${res.statusCode} ${text.slice(0, 200)}`);
}

async function get(m: Extract<Request, { type: 'get' }>): Promise<void> {
  const res = await request(`${config.http.base}?${m.query}`, { dispatcher: http, headers: auth, ...timeouts });
  let got = 0;
  for await (const chunk of res.body) got += (chunk as Buffer).length;
  if (res.statusCode !== 200 || got !== m.bytes) throw new Error(`download: ${res.statusCode}, ${got} bytes`);
}

async function publish(m: Extract<Request, { type: 'publish' }>): Promise<void> {
  const frame = Buffer.alloc(m.frame, 7);
  // Each publish waits for its write, as the stream layer's sender waits for its window.
  for (let sent = 0; sent < m.bytes; sent += frame.length) await client.publishAsync(m.topic, frame, { qos: 0 });
}

async function sink(m: Extract<Request, { type: 'sink' }>): Promise<void> {
  let got = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const onMessage = (topic: string, payload: Buffer) => {
    if (topic !== m.topic) return;
    got += payload.length;
    if (got >= m.bytes) done();
  };
  client.on('message', onMessage);
  await client.subscribeAsync(m.topic, { qos: 0 });
  process.send?.({ type: 'subscribed' });
  try {
    await finished;
  } finally {
    client.off('message', onMessage);
    await client.unsubscribeAsync(m.topic);
  }
}

process.on('message', (m: Request) => {
  const run = m.type === 'put' ? put(m) : m.type === 'get' ? get(m) : m.type === 'publish' ? publish(m) : sink(m);
  run.then(
    () => process.send?.({ type: 'done' }),
    (err: unknown) => process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
  );
});

process.send?.({ type: 'ready' });
const stop = () => {
  const exit = () => process.exit(0);
  Promise.all([client.endAsync(true), http.close()]).then(exit, exit);
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
