/** A small typed event bus connecting the server's services without importing each other. */
import { EventEmitter } from 'node:events';
import type { DeviceView } from './services/devices.js';

export interface BusEvents {
  'device.online': [device: DeviceView];
  'device.offline': [deviceId: string];
  'device.changed': [device: DeviceView];
  /** Credentials or state changed: drop the device's broker connection. */
  'device.disconnect': [deviceId: string];
  'device.deleted': [deviceId: string];
}

export class Bus {
  readonly #emitter = new EventEmitter();
  constructor() {
    this.#emitter.setMaxListeners(100);
  }
  on<K extends keyof BusEvents>(event: K, listener: (...args: BusEvents[K]) => void): void {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
  }
  emit<K extends keyof BusEvents>(event: K, ...args: BusEvents[K]): void {
    this.#emitter.emit(event, ...args);
  }
}
