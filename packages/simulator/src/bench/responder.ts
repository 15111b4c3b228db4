/**
 * Child process of the round-trip and terminal benchmarks: one lightweight simulated
 * device (device.ts) that answers `system/ping` at once and echoes byte-stream frames
 * (`tty/{sid}/in` back on `tty/{sid}/out`). It runs in its own process, as the agent
 * does, so the raw baseline and the measured path cross the same process boundary.
 * argv[2]: JSON `{url, caFile, deviceId, secret}`. Sends `{type: 'ready'}` when subscribed.
 */
import { readFileSync } from 'node:fs';
import { SimDevice } from '../device.js';

const { url, caFile, deviceId, secret } = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  caFile: string;
  deviceId: string;
  secret: string;
};
const device = await SimDevice.start({
  url,
  ca: readFileSync(caFile),
  credentials: { deviceId, secret },
  keepalive: 30,
  heartbeatSeconds: 15,
  echoStreams: true,
});
process.send?.({ type: 'ready' });
const stop = () => {
  const exit = () => process.exit(0);
  device.stop().then(exit, exit);
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
