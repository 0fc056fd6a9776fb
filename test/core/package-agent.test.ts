// A package that is not firmware (ThingsBoard sw_*) goes to a file the application chose: the
// agent downloads it over ThingsBoard's chunks, verifies it, hands it to the application's
// install step, and reports UPDATED with no reboot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Agent, type AgentNotice } from "../../src/core/agent/agent";
import { createThingsBoardBackend, mqttIdentity } from "../../src/backends/thingsboard/index";
import { startThingsBoardCloud } from "../../tools/clouds/thingsboard/index";
import { connectMqtt } from "../../hosts/node/mqtt";
import { nodeClock } from "../../hosts/node/clock";
import { createNodeHttpClient } from "../../hosts/node/http";
import { FileSlotWriter } from "../../hosts/node/file-slot";
import { MemoryStore } from "../support/memory-store";
import type { BootControl } from "../../src/core/ports";

const firmware: BootControl = {
  running: async () => ({
    slot: "ota_0",
    version: "1.0.0",
    project: "app",
    secureVersion: 0,
    state: "valid",
  }),
  setNextBoot: async () => assert.fail("a package never changes the boot slot"),
  markValid: async () => {},
  markInvalidAndReboot: async () => assert.fail("a package never reboots"),
  reboot: async () => assert.fail("a package never reboots"),
};

async function runPackageAgent(options: {
  data: Uint8Array;
  install: (file: string) => Promise<void>;
}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-pkg-"));
  const cloud = await startThingsBoardCloud();
  cloud.addDevice("sw-token");
  const config = { accessToken: "sw-token", title: "maps", kind: "software" as const, window: 4 };
  const mqtt = connectMqtt({ url: cloud.brokerUrl, ...mqttIdentity(config) });
  const logger = { log: () => {} };
  const notices: AgentNotice[] = [];
  const file = path.join(dir, "maps.bin");
  const agent = new Agent({
    ports: {
      slot: new FileSlotWriter(file, 8 * 1024 * 1024),
      boot: firmware,
      http: createNodeHttpClient(),
      store: new MemoryStore(),
      clock: nodeClock,
      logger,
    },
    backend: createThingsBoardBackend(config, { mqtt, clock: nodeClock, logger }),
    install: () => options.install(file),
    onNotice: (n) => notices.push(n),
  });
  await agent.start();
  cloud.assign({
    token: "sw-token",
    type: "software",
    title: "maps",
    version: "2024.1",
    data: options.data,
    algorithm: "SHA256",
  });
  const final = await cloud.waitFor(
    (e) =>
      e.source === "device" && (e.values.sw_state === "UPDATED" || e.values.sw_state === "FAILED"),
    20_000,
  );
  await agent.stop();
  await mqtt.close();
  const states = cloud
    .telemetry("sw-token")
    .filter((e) => e.source === "device" && typeof e.values.sw_state === "string")
    .map((e) => e.values.sw_state);
  await cloud.close();
  const written = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
  fs.rmSync(dir, { recursive: true, force: true });
  return { final, states, written, notices };
}

test("a software package is downloaded in chunks into its file, verified, installed, and reported UPDATED", async () => {
  const data = new Uint8Array(300_000).map((_, i) => (i * 7919) & 255);
  let installedSha = "";
  const run = await runPackageAgent({
    data,
    install: async (file) => {
      installedSha = createHash("sha256").update(fs.readFileSync(file)).digest("hex");
    },
  });
  assert.deepEqual(run.states, ["DOWNLOADING", "DOWNLOADED", "VERIFIED", "UPDATING", "UPDATED"]);
  assert.equal(installedSha, createHash("sha256").update(data).digest("hex"));
  assert.equal(Buffer.compare(run.written, Buffer.from(data)), 0);
  assert.ok(!run.notices.some((n) => n.event === "state" && n.to === "rebooting"));
});

test("an install step that fails is reported FAILED with its reason", async () => {
  const run = await runPackageAgent({
    data: new Uint8Array(50_000).fill(3),
    install: async () => {
      throw new Error("the map database refused the file");
    },
  });
  assert.equal(run.final.values.sw_state, "FAILED");
  assert.match(String(run.final.values.sw_error), /the map database refused the file/);
});
