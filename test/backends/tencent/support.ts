// What the Tencent tests share: a listener standing in for the agent (it records offers and does
// what the agent does with one: a real HTTP Range download through the core's source, MD5 as the
// bytes flow, and the reports in the agent's order), the broker tiers, and device connections.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import type { Backend, BackendListener } from "../../../src/core/backend";
import { httpSource } from "../../../src/core/download/http-source";
import { asOtaError, otaError, type OtaError } from "../../../src/core/errors";
import { Md5 } from "../../../src/core/hash/index";
import type { Offer } from "../../../src/core/offer";
import type { Clock, Logger, MqttClient } from "../../../src/core/ports";
import { toHex } from "../../../src/core/util/bytes";
import {
  createTencentBackend,
  mqttIdentity,
  type TencentConfig,
} from "../../../src/backends/tencent/index";
import { connectMqtt } from "../../../hosts/node/mqtt";
import { createNodeHttpClient } from "../../../hosts/node/http";
import { startFirmwareServer, type FirmwareServer } from "../../../tools/fwserver/index";
import { buildAppImage } from "../../../tools/image/build";
import { startTencentCloud, type TencentCloud } from "../../../tools/clouds/tencent/index";
import { startMosquitto, type RunningMosquitto } from "../../support/mosquitto";

export const clock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  random: Math.random,
};

export class RecordingLogger implements Logger {
  lines: { level: string; message: string }[] = [];
  log(level: string, message: string) {
    this.lines.push({ level, message });
  }
}

/** Stands in for the agent: records what the backend tells it. */
export class TestAgent implements BackendListener {
  offers: Offer[] = [];
  cancels: string[] = [];
  connections = 0;
  private wake: (() => void)[] = [];

  offer(offer: Offer) {
    this.offers.push(offer);
    this.notify();
  }
  cancel(id: string) {
    this.cancels.push(id);
    this.notify();
  }
  connected() {
    this.connections++;
    this.notify();
  }
  private notify() {
    for (const w of this.wake.splice(0)) w();
  }
  /** Resolves once `predicate` holds. */
  async until(predicate: () => boolean, timeoutMs = 5000, what = "agent condition") {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
      await new Promise<void>((resolve) => {
        this.wake.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
  /** The `n`th offer (1-based), once it has arrived. */
  async nthOffer(n: number, timeoutMs = 5000): Promise<Offer> {
    await this.until(() => this.offers.length >= n, timeoutMs, `offer #${n}`);
    return this.offers[n - 1];
  }
}

/** The bytes of a download kept across simulated reboots, as the agent's slot and journal do. */
export interface Transfer {
  parts: Uint8Array[];
  bytes: number;
}

const http = createNodeHttpClient();

/**
 * Downloads the offer from `transfer.bytes` on, reporting as the agent does, then checks the MD5
 * and reports "verified". `cutAt` stops the transfer there without a report, as a power cut does.
 * Failures are reported as the agent reports them and returned.
 */
export async function download(
  backend: Backend,
  offer: Offer,
  transfer: Transfer,
  options: { cutAt?: number; readTimeoutMs?: number } = {},
): Promise<"verified" | "cut" | OtaError> {
  assert.equal(offer.source.kind, "http");
  const url = offer.source.kind === "http" ? offer.source.url : "";
  try {
    const source = httpSource({
      http,
      clock,
      url,
      expectedSize: offer.size,
      readTimeoutMs: options.readTimeoutMs ?? 5000,
    });
    const stream = await source.open(transfer.bytes);
    assert.equal(stream.offset, transfer.bytes, "the server resumed where asked");
    await backend.report({
      offer,
      status: "downloading",
      progress: { bytes: transfer.bytes, total: offer.size },
    });
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
      transfer.parts.push(chunk.slice());
      transfer.bytes += chunk.length;
      if (options.cutAt !== undefined && transfer.bytes >= options.cutAt) {
        stream.close();
        return "cut";
      }
      await backend.report({
        offer,
        status: "downloading",
        progress: { bytes: transfer.bytes, total: offer.size },
      });
    }
    await backend.report({ offer, status: "downloaded" });
    const md5 = new Md5();
    for (const part of transfer.parts) md5.update(part);
    const got = toHex(md5.digest());
    if (got !== offer.hashes.md5)
      throw otaError(
        "checksum-mismatch",
        `image MD5 is ${got}, the offer says ${offer.hashes.md5}`,
      );
    await backend.report({ offer, status: "verified" });
    return "verified";
  } catch (error) {
    const failure = asOtaError(error);
    await backend.report({
      offer,
      status: "failed",
      failure: { code: failure.code, message: failure.message },
    });
    return failure;
  }
}

export const PRODUCT = "ABCDE12345";

/**
 * hosts/node/mqtt.ts answers 128 (refused) for a filter mqtt.js already holds: mqtt.js sends no
 * SUBSCRIBE for it and reports no grant, which happens on every reconnection since mqtt.js
 * resubscribes by itself first. Until that port is fixed, a grant this client already obtained
 * stands.
 */
function keepGrants(mqtt: MqttClient): MqttClient {
  const granted: Record<string, number> = {};
  const wrapped = Object.create(mqtt) as MqttClient;
  wrapped.subscribe = async (filters, qos) => {
    const result = await mqtt.subscribe(filters, qos);
    return result.map((code, i) => {
      if (code === 128 && granted[filters[i]] !== undefined) return granted[filters[i]];
      granted[filters[i]] = code;
      return code;
    });
  };
  return wrapped;
}

/** One broker tier: the cloud, the firmware server and a way to bring devices up. */
export interface Tier {
  kind: "aedes" | "mosquitto";
  cloud: TencentCloud;
  fw: FirmwareServer;
  image: Uint8Array;
  md5: string;
  mosquitto?: RunningMosquitto;
  /** A registered device name not used before. */
  newDevice(): { deviceName: string; secret: string };
  boot(
    deviceName: string,
    secret: string,
    currentVersion: string,
    extra?: Partial<TencentConfig>,
    deviceClock?: Clock,
  ): Promise<Device>;
  close(): Promise<void>;
}

export interface Device {
  mqtt: MqttClient;
  backend: Backend;
  agent: TestAgent;
  logger: RecordingLogger;
  /** Stops the backend and drops the connection (a reboot or a power cut). */
  down(): Promise<void>;
}

export async function startTier(kind: "aedes" | "mosquitto"): Promise<Tier> {
  const dir = mkdtempSync(join(tmpdir(), "otaflow-tencent-"));
  const image = buildAppImage({ version: "2.0.0", size: 192 * 1024 });
  writeFileSync(join(dir, "fw.bin"), image);
  const fw = await startFirmwareServer({ root: dir });
  const mosquitto = kind === "mosquitto" ? await startMosquitto() : undefined;
  const cloud = await startTencentCloud({ brokerUrl: mosquitto?.url });
  let count = 0;
  return {
    kind,
    cloud,
    fw,
    image,
    md5: createHash("md5").update(image).digest("hex"),
    mosquitto,
    newDevice() {
      const deviceName = `dev${++count}`;
      const device = cloud.registerDevice({ productId: PRODUCT, deviceName });
      return { deviceName, secret: device.secret! };
    },
    async boot(deviceName, secret, currentVersion, extra = {}, deviceClock = clock) {
      const config: TencentConfig = {
        productId: PRODUCT,
        deviceName,
        deviceSecret: secret,
        currentVersion,
        progressIntervalMs: 0,
        retryBaseMs: 100,
        responseTimeoutMs: 1000,
        ...extra,
      };
      const identity = mqttIdentity(config, Date.now());
      const mqtt = keepGrants(connectMqtt({ url: cloud.brokerUrl, reconnectMs: 200, ...identity }));
      await new Promise<void>((resolve) => mqtt.onConnect(() => resolve()));
      const logger = new RecordingLogger();
      const backend = createTencentBackend(config, { mqtt, clock: deviceClock, logger });
      const agent = new TestAgent();
      const reports = cloud.device(PRODUCT, deviceName).versionReports;
      const before = reports.length;
      await backend.start(agent);
      // As a device that has been up a moment: the platform has its version before anything else.
      await cloud.waitFor(() => reports.length > before, 5000, `report_version from ${deviceName}`);
      return {
        mqtt,
        backend,
        agent,
        logger,
        async down() {
          await backend.stop();
          await mqtt.close();
        },
      };
    },
    async close() {
      await cloud.close();
      await mosquitto?.close();
      await fw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
