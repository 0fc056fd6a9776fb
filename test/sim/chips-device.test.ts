// The simulated board as a given chip: it boots and installs images made for that chip
// (otaflow image --chip), refuses images made for another as their header arrives, and will not
// boot a flash file made for another chip.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { ESP32, ESP32_S3 } from "../../hosts/node/chips";
import { runDevice, type DeviceEvent } from "../../hosts/node/device";
import { ScriptedCloud } from "../support/scripted-cloud";
import { SimBench, boots, finalReport, offerOf } from "../support/sim";

let bench: SimBench;
before(async () => (bench = await SimBench.start()));
after(() => bench.close());

test("an ESP32-S3 board boots and updates to images made with --chip esp32s3", async () => {
  fs.rmSync(bench.flashPath, { force: true });
  const factory = bench.image("s3-1.0.0.bin", { version: "1.0.0", chip: "esp32s3" });
  const next = bench.image("s3-1.1.0.bin", { version: "1.1.0", chip: "esp32s3", seed: 3 });
  const cloud = new ScriptedCloud();
  cloud.offer = offerOf(next, "1.1.0");
  const events = await bench.run({
    factory,
    chip: ESP32_S3,
    backend: () => cloud.backend(),
    until: finalReport,
  });
  assert.equal(cloud.reports[cloud.reports.length - 1].status, "succeeded");
  assert.deepEqual(
    boots(events).map((b) => `${b.slot} ${b.version}`),
    ["ota_0 1.0.0", "ota_1 1.1.0"],
  );
});

test("an ESP32-S3 board refuses an ESP32 image before writing it to its slot", async () => {
  fs.rmSync(bench.flashPath, { force: true });
  const factory = bench.image("s3-2.0.0.bin", { version: "2.0.0", chip: "esp32s3" });
  const esp32 = bench.image("esp32-2.1.0.bin", { version: "2.1.0" });
  const cloud = new ScriptedCloud();
  cloud.offer = offerOf(esp32, "2.1.0");
  const events = await bench.run({
    factory,
    chip: ESP32_S3,
    backend: () => cloud.backend(),
    until: finalReport,
  });
  const last = cloud.reports[cloud.reports.length - 1];
  assert.equal(last.status, "failed");
  assert.match(last.failure!.message, /chip/i);
  assert.equal(boots(events).length, 1);
});

test("a flash file made for an ESP32-S3 does not boot on an ESP32, and says why", async () => {
  fs.rmSync(bench.flashPath, { force: true });
  const factory = bench.image("s3-3.0.0.bin", { version: "3.0.0", chip: "esp32s3" });
  await bench.run({
    factory,
    chip: ESP32_S3,
    backend: () => new ScriptedCloud().backend(),
    until: (event) => event.event === "boot",
  });
  await assert.rejects(
    runDevice({
      flashPath: bench.flashPath,
      chip: ESP32,
      cloud: {
        brokerUrl: "mqtt://127.0.0.1:1",
        identity: { clientId: "sim" },
        createBackend: () => new ScriptedCloud().backend(),
      },
      onEvent: () => {},
      powerOff: new Promise(() => {}),
      maxBoots: 1,
    }),
    /device\.flash was made for esp32s3, not esp32/,
  );
});

test("a board with a Secure Boot V2 key in its eFuses boots only an image signed by it", async () => {
  const fixture = (name: string) => path.join(import.meta.dirname, "../fixtures/espsecure", name);
  const keyA = fs.readFileSync(fixture("sbv2-key-a.digest.bin")).toString("hex");
  const start = (factory: string) => {
    fs.rmSync(bench.flashPath, { force: true });
    const events: DeviceEvent[] = [];
    return runDevice({
      flashPath: bench.flashPath,
      factoryImagePath: fixture(factory),
      secureBootKeyDigests: [keyA],
      cloud: {
        brokerUrl: "mqtt://127.0.0.1:1",
        identity: { clientId: "sim" },
        createBackend: () => new ScriptedCloud().backend(),
      },
      onEvent: (event) => events.push(event),
      powerOff: Promise.resolve(),
      maxBoots: 1,
    }).then(() => events);
  };
  await assert.rejects(start("app-32k.bin"), /no bootable image/);
  assert.deepEqual(JSON.parse(fs.readFileSync(`${bench.flashPath}.efuse`, "utf8")).keyDigests, [
    keyA,
  ]);
  const events = await start("app-32k.sbv2-a.bin");
  assert.equal(boots(events).length, 1);
});
