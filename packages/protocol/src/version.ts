/** Protocol identity: bump PROTOCOL_VERSION on any incompatible change to topics or envelopes. */
export const PROTOCOL_VERSION = 1;
/** Every Outpost topic lives under this prefix (docs/protocol.md §Topics). */
export const TOPIC_PREFIX = 'outpost/v1';
/** Largest MQTT payload either side accepts, in bytes. The broker rejects larger publishes. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Default heartbeat (telemetry) interval in seconds. */
export const DEFAULT_HEARTBEAT_SECONDS = 15;
