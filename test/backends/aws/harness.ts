// What the AWS backend tests run against: a broker with TLS client certificates (aedes or
// mosquitto), the local AWS IoT Jobs, the firmware HTTP server, and devices whose backend reports
// to a test listener standing in for the agent.

import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import {
  createAwsBackend,
  mqttIdentity,
  type AwsBackend,
  type AwsConfig,
} from "../../../src/backends/aws/index";
import type { BackendListener } from "../../../src/core/backend";
import type { Offer } from "../../../src/core/offer";
import type { Logger, MqttClient } from "../../../src/core/ports";
import { nodeClock } from "../../../hosts/node/clock";
import { connectMqtt } from "../../../hosts/node/mqtt";
import { startEmbeddedBroker } from "../../../tools/broker/index";
import { startAwsCloud, type AwsCloud } from "../../../tools/clouds/aws/index";
import { startFirmwareServer, type FirmwareServer } from "../../../tools/fwserver/index";
import { makePki, type Pki } from "../../support/certs";
import { startMosquitto } from "../../support/mosquitto";

export type BrokerKind = "aedes" | "mosquitto";

/** Polls `probe` until it gives a truthy value. */
export async function until<T>(
  probe: () => T | undefined | null | false,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records what the backend tells the agent. */
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
  /** The first offer of each job, in order: a job named again is offered again. */
  jobs(): Offer[] {
    return this.offers.filter((o, i) => this.offers.findIndex((p) => p.id === o.id) === i);
  }
  /** The first offer of job number `index` (0-based), once it has arrived. */
  nthOffer(index: number): Promise<Offer> {
    return until(() => this.jobs()[index], `offer of job #${index + 1}`);
  }
  cancelOf(id: string): Promise<{ id: string; reason: string }> {
    return until(() => this.cancels.find((c) => c.id === id), `cancel of ${id}`);
  }
}

export interface Device {
  thing: string;
  backend: AwsBackend;
  listener: TestListener;
  mqtt: MqttClient;
  /** Every topic the backend published to and every filter it subscribed, in order. */
  sent: string[];
  logs: string[];
  /** Stops the backend and drops the connection, as a reboot or a power cut does. */
  shutdown(): Promise<void>;
}

export interface Env {
  kind: BrokerKind;
  brokerUrl: string;
  pki: Pki;
  cloud: AwsCloud;
  fw: FirmwareServer;
  image: Uint8Array;
  imageUrl: string;
  md5: string;
  sha256: string;
  /** Restarts the broker (mosquitto only). */
  restartBroker?: () => Promise<void>;
  device(thing: string, config?: Partial<AwsConfig>): Promise<Device>;
  /** An extra MQTT client on the broker, for messages a device would not expect. */
  rogue(name: string): Promise<mqtt.MqttClient>;
  close(): Promise<void>;
}

/** One minute of the local cloud, in ms: step timeouts run in a test's time. */
export const MINUTE_MS = 1200;

export async function startEnv(kind: BrokerKind): Promise<Env> {
  const pki = makePki();
  const broker =
    kind === "aedes"
      ? await startEmbeddedBroker({ tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca } })
      : await startMosquitto({ pki });
  const dir = mkdtempSync(join(tmpdir(), "otaflow-aws-"));
  const image = new Uint8Array(randomBytes(192 * 1024));
  writeFileSync(join(dir, "app.bin"), image);
  const fw = await startFirmwareServer({ root: dir });
  const cloud = await startAwsCloud({
    brokerUrl: broker.url,
    tls: { ca: pki.ca, ...pki.client("aws-cloud") },
    minuteMs: MINUTE_MS,
    presign: (url, ttlMs) => fw.presign(new URL(url).pathname, ttlMs),
  });
  const devices: Device[] = [];
  const rogues: mqtt.MqttClient[] = [];
  const env: Env = {
    kind,
    brokerUrl: broker.url,
    pki,
    cloud,
    fw,
    image,
    imageUrl: fw.url + "/app.bin",
    md5: createHash("md5").update(image).digest("hex"),
    sha256: createHash("sha256").update(image).digest("hex"),
    restartBroker: "restart" in broker ? () => broker.restart() : undefined,
    async device(thing, config = {}) {
      const full: AwsConfig = {
        thingName: thing,
        responseTimeoutMs: 1000,
        progressIntervalMs: 200,
        ...config,
      };
      const logs: string[] = [];
      const logger: Logger = {
        log: (level, message, fields) =>
          logs.push(`${level} ${message} ${fields ? JSON.stringify(fields) : ""}`),
      };
      const client = connectMqtt({
        url: broker.url,
        ...mqttIdentity(full),
        ca: pki.ca,
        ...pki.client(thing),
        reconnectMs: 200,
      });
      const sent: string[] = [];
      const recorded: MqttClient = Object.create(client);
      recorded.publish = (topic, payload, qos) => {
        sent.push(topic);
        return client.publish(topic, payload, qos);
      };
      recorded.subscribe = (filters, qos) => {
        sent.push(...filters);
        return client.subscribe(filters, qos);
      };
      const backend = createAwsBackend(full, { mqtt: recorded, clock: nodeClock, logger });
      const listener = new TestListener();
      await backend.start(listener);
      await until(() => listener.connections > 0, `${thing} connected`);
      const device: Device = {
        thing,
        backend,
        listener,
        mqtt: client,
        sent,
        logs,
        async shutdown() {
          await backend.stop();
          await client.close();
        },
      };
      devices.push(device);
      return device;
    },
    async rogue(name) {
      const client = await mqtt.connectAsync(broker.url, {
        clientId: name,
        ca: pki.ca,
        ...pki.client(name),
        reconnectPeriod: 200,
      });
      rogues.push(client);
      return client;
    },
    async close() {
      try {
        for (const device of devices) await device.shutdown().catch(() => undefined);
        for (const client of rogues) await client.endAsync(true);
        await cloud.close();
        await fw.close();
        await broker.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
        rmSync(pki.dir, { recursive: true, force: true });
      }
    },
  };
  return env;
}

/** The offer as the agent persists it across a reboot. */
export function persisted(offer: Offer): Offer {
  return JSON.parse(JSON.stringify(offer));
}
