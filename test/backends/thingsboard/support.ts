// What the ThingsBoard backend tests share: the two tiers (the cloud's own embedded MQTT server,
// and mosquitto with the cloud as a client of it), a listener standing in for the agent, and a
// transfer loop that reads a ByteSource the way the agent's does.
import { randomBytes } from "node:crypto";
import { connectMqtt } from "../../../hosts/node/mqtt";
import { nodeClock } from "../../../hosts/node/clock";
import {
  createThingsBoardBackend,
  mqttIdentity,
  type ThingsBoardConfig,
} from "../../../src/backends/thingsboard/index";
import type { Backend, BackendListener } from "../../../src/core/backend";
import { isOtaError, type OtaError } from "../../../src/core/errors";
import { createDigest } from "../../../src/core/hash/index";
import type { Offer } from "../../../src/core/offer";
import type { Digest, HashAlgorithm, LogLevel, Logger, MqttClient } from "../../../src/core/ports";
import type { ByteSource } from "../../../src/core/source";
import { concatBytes } from "../../../src/core/util/bytes";
import {
  startThingsBoardCloud,
  type ThingsBoardCloud,
  type ThingsBoardCloudOptions,
} from "../../../tools/clouds/thingsboard/index";
import { mosquittoSkip, startMosquitto } from "../../support/mosquitto";

export type TierName = "aedes" | "mosquitto";

export const TIERS: { name: TierName; skip: string | undefined }[] = [
  { name: "aedes", skip: undefined },
  { name: "mosquitto", skip: mosquittoSkip },
];

export const TOKEN = "A1_TEST_TOKEN";
export const TITLE = "sensor";

/** Resolves when `check` holds, polling; rejects after `ms`. */
export async function until(check: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Stands in for the agent: records what the backend tells it. */
export class TestListener implements BackendListener {
  offers: Offer[] = [];
  cancels: { id: string; reason: string }[] = [];
  connections = 0;

  offer(offer: Offer): void {
    this.offers.push(offer);
  }
  cancel(id: string, reason: string): void {
    this.cancels.push({ id, reason });
  }
  connected(): void {
    this.connections++;
  }

  /** The first offer from index `from` on that matches. */
  async nextOffer(match: (offer: Offer) => boolean = () => true, from = 0): Promise<Offer> {
    let found: Offer | undefined;
    await until(
      () => (found = this.offers.slice(from).find(match)) !== undefined,
      5000,
      "an offer",
    );
    return found!;
  }
}

export interface TestLogger extends Logger {
  lines: { level: LogLevel; message: string; fields?: Record<string, unknown> }[];
}

export function testLogger(): TestLogger {
  const lines: TestLogger["lines"] = [];
  return { lines, log: (level, message, fields) => lines.push({ level, message, fields }) };
}

export interface Device {
  mqtt: MqttClient;
  backend: Backend;
  listener: TestListener;
  logger: TestLogger;
  config: ThingsBoardConfig;
  /** Stops the backend and closes the connection: a reboot, or the end of a test. */
  close(): Promise<void>;
}

export interface Tier {
  name: TierName;
  cloud: ThingsBoardCloud;
  /** A device with the tier's token: connects, starts the backend, resolves after start(). */
  device(config?: Partial<ThingsBoardConfig>): Promise<Device>;
  close(): Promise<void>;
}

export async function startTier(
  name: TierName,
  options: Omit<ThingsBoardCloudOptions, "brokerUrl" | "device"> = {},
  /** CA that devices trust, for an embedded server with `tls`. */
  ca?: string,
): Promise<Tier> {
  const base: ThingsBoardConfig = { accessToken: TOKEN, title: TITLE };
  const identity = mqttIdentity(base);
  const mosquitto = name === "mosquitto" ? await startMosquitto() : undefined;
  const cloud = await startThingsBoardCloud({
    ...options,
    ...(mosquitto
      ? { brokerUrl: mosquitto.url, device: { token: TOKEN, clientId: identity.clientId } }
      : {}),
  });
  cloud.addDevice(TOKEN);
  const devices: Device[] = [];
  return {
    name,
    cloud,
    async device(overrides = {}) {
      const config: ThingsBoardConfig = { ...base, ...overrides };
      const mqtt = connectMqtt({
        url: cloud.brokerUrl,
        ...mqttIdentity(config),
        ca,
        reconnectMs: 100,
      });
      await new Promise<void>((resolve) => mqtt.onConnect(() => resolve()));
      const logger = testLogger();
      const backend = createThingsBoardBackend(config, { mqtt, clock: nodeClock, logger });
      const listener = new TestListener();
      await backend.start(listener);
      const device: Device = {
        mqtt,
        backend,
        listener,
        logger,
        config,
        async close() {
          devices.splice(devices.indexOf(device), 1);
          await backend.stop();
          await mqtt.close();
        },
      };
      devices.push(device);
      return device;
    },
    async close() {
      for (const device of devices.slice()) await device.close();
      await cloud.close();
      if (mosquitto) await mosquitto.close();
    },
  };
}

export function image(size: number): Uint8Array {
  return new Uint8Array(randomBytes(size));
}

export interface Download {
  bytes: Uint8Array;
  /** Final digest of each algorithm of the offer, fed chunk by chunk. */
  digests: Partial<Record<HashAlgorithm, Uint8Array>>;
  /** Offsets each attempt opened at. */
  opens: number[];
  /** The transient errors that interrupted it. */
  interruptions: OtaError[];
}

/**
 * Reads a source to its end as the agent's transfer loop does: hashes as the bytes flow; after a
 * transient failure, opens again at the last sector boundary and re-hashes the kept prefix.
 */
export async function download(
  source: ByteSource,
  offer: Offer,
  options: {
    from?: number;
    sector?: number;
    attempts?: number;
    onChunk?: (bytes: number) => void;
  } = {},
): Promise<Download> {
  const sector = options.sector ?? 4096;
  const algorithms = Object.keys(offer.hashes) as HashAlgorithm[];
  const fresh = () => algorithms.map((a) => ({ algorithm: a, digest: createDigest(a) as Digest }));
  let digests = fresh();
  let parts: Uint8Array[] = [];
  let offset = options.from ?? 0;
  const opens: number[] = [];
  const interruptions: OtaError[] = [];
  for (let attempt = 0; ; attempt++) {
    try {
      opens.push(offset);
      const stream = await source.open(offset);
      try {
        for (;;) {
          const chunk = await stream.read();
          if (chunk === null) break;
          parts.push(chunk.slice());
          for (const d of digests) d.digest.update(chunk);
          offset += chunk.length;
          options.onChunk?.(offset);
        }
      } finally {
        stream.close();
      }
      break;
    } catch (error) {
      if (!isOtaError(error) || !error.transient || attempt + 1 >= (options.attempts ?? 5))
        throw error;
      interruptions.push(error);
      const kept = concatBytes(parts);
      offset = Math.floor(offset / sector) * sector;
      const start = options.from ?? 0;
      parts = [kept.slice(0, offset - start)];
      digests = fresh();
      for (const d of digests) d.digest.update(parts[0]);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const result: Partial<Record<HashAlgorithm, Uint8Array>> = {};
  for (const d of digests) result[d.algorithm] = d.digest.digest();
  return { bytes: concatBytes(parts), digests: result, opens, interruptions };
}

/** The device's own telemetry entries' values, oldest first. */
export function deviceTelemetry(cloud: ThingsBoardCloud): Record<string, unknown>[] {
  return cloud
    .telemetry(TOKEN)
    .filter((e) => e.source === "device")
    .map((e) => e.values);
}

/** The fw_state (sw_state) values the device sent, in order. */
export function states(cloud: ThingsBoardCloud, prefix = "fw"): string[] {
  return deviceTelemetry(cloud)
    .map((v) => v[`${prefix}_state`])
    .filter((s): s is string => typeof s === "string");
}
