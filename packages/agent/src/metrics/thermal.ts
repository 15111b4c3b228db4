/**
 * Temperature from the kernel's thermal zones (`<sys>/class/thermal/thermal_zone*`:
 * `temp` in millidegrees Celsius, `type` naming the sensor). A device without a
 * readable zone gets `null` and a reason, never a made-up value.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TemperatureMetrics, ThermalZone } from '@outpost/protocol';

export type TemperatureReading =
  | { temperature: TemperatureMetrics; reason?: undefined }
  | { temperature: null; reason: string };

const MAX_ZONES = 64;

function zoneNumber(name: string): number {
  return Number(name.slice('thermal_zone'.length));
}

export function readTemperature(sysRoot: string): TemperatureReading {
  const dir = join(sysRoot, 'class', 'thermal');
  // The path the kernel documents, in messages, whatever root the sampler reads (tests use fixtures).
  const shown = '/sys/class/thermal';
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^thermal_zone\d+$/.test(n));
  } catch {
    return { temperature: null, reason: `${shown} does not exist (kernel without thermal support)` };
  }
  if (names.length === 0) return { temperature: null, reason: `no thermal zones in ${shown}` };
  names.sort((a, b) => zoneNumber(a) - zoneNumber(b));
  const zones: ThermalZone[] = [];
  for (const zone of names.slice(0, MAX_ZONES)) {
    let milli: number;
    try {
      // A sensor that is off or not ready answers EINVAL/ENODATA/EAGAIN: skip it.
      milli = Number(readFileSync(join(dir, zone, 'temp'), 'utf8').trim());
    } catch {
      continue;
    }
    const celsius = milli / 1000;
    // Drivers report placeholders such as -274000 for "no reading".
    if (!Number.isFinite(celsius) || celsius < -273.15 || celsius > 1000) continue;
    let type = '';
    try {
      type = readFileSync(join(dir, zone, 'type'), 'utf8')
        .trim()
        .slice(0, 64);
    } catch {
      // The type is a label only.
    }
    zones.push({ zone, type, celsius: Math.round(celsius * 10) / 10 });
  }
  if (zones.length === 0) {
    return { temperature: null, reason: `none of the ${names.length} thermal zones in ${shown} gave a reading` };
  }
  const celsius = Math.max(...zones.map((z) => z.celsius));
  return { temperature: { celsius, zones } };
}
