// The agent end to end on the simulated board: real flash layout, real bootloader rules, real
// HTTP with Range, against a cloud reduced to its contract (the protocols are tested per backend).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import type { Offer } from "../../src/core/offer";
import type { DeviceEvent } from "../../hosts/node/device";
import { ScriptedCloud } from "../support/scripted-cloud";
import { SimBench, boots, offerOf } from "../support/sim";

let bench: SimBench;
before(async () => (bench = await SimBench.start()));
after(() => bench.close());

const finalReport = (e: DeviceEvent) =>
  e.event === "report" && ["succeeded", "failed", "rejected", "current"].includes(e.status);

function fresh(): void {
  fs.rmSync(bench.flashPath, { force: true });
}

test("an update downloads, reboots, passes its self-test and reports succeeded from the new image", async () => {
  fresh();
  const factory = bench.image("f100.bin", { version: "1.0.0", size: 100_000 });
  const next = bench.image("u110.bin", { version: "1.1.0", size: 300_000, seed: 2 });
  const cloud = new ScriptedCloud();
  cloud.offer = offerOf(next, "1.1.0");
  const events = await bench.run({ factory, backend: () => cloud.backend(), until: finalReport });
  assert.deepEqual(
    boots(events).map((b) => `${b.version}@${b.slot}:${b.state}`),
    ["1.0.0@ota_0:valid", "1.1.0@ota_1:pending-verify"],
  );
  assert.deepEqual(cloud.statuses(), [
    "downloading",
    "downloaded",
    "verified",
    "updating",
    "testing",
    "succeeded",
  ]);
  assert.ok(events.some((e) => e.event === "confirm" && e.version === "1.1.0"));
  // The next boot keeps the confirmed image.
  const again = await bench.run({
    backend: () => cloud.backend(),
    until: (e) => e.event === "boot",
  });
  assert.deepEqual(boots(again), [{ version: "1.1.0", slot: "ota_1", state: "valid" }]);
});

for (const behaviour of ["fail", "crash", "hang"] as const) {
  test(`a self-test that ends in "${behaviour}" rolls back, and the old image reports failed`, async () => {
    fresh();
    const factory = bench.image("f100.bin", { version: "1.0.0", size: 100_000 });
    const bad = bench.image(`bad-${behaviour}.bin`, { version: "1.2.0", selfTest: behaviour });
    const cloud = new ScriptedCloud();
    cloud.offer = offerOf(bad, "1.2.0");
    const events = await bench.run({ factory, backend: () => cloud.backend(), until: finalReport });
    const seen = boots(events);
    assert.deepEqual(
      seen.map((b) => b.version),
      ["1.0.0", "1.2.0", "1.0.0"],
    );
    assert.equal(seen[2].slot, "ota_0");
    const last = cloud.reports[cloud.reports.length - 1];
    assert.equal(last.status, "failed");
    assert.equal(last.failure?.code, behaviour === "fail" ? "self-test-failed" : "rolled-back");
    assert.ok(!cloud.reports.some((r) => r.status === "succeeded"));
    // The failed report came from the old image, after the rollback.
    const reportAt = events.findIndex((e) => e.event === "report" && e.status === "failed");
    const lastBoot = events.map((e) => e.event).lastIndexOf("boot");
    assert.ok(reportAt > lastBoot);

    // The cloud offers the same update again: declined, nothing downloaded, no reboot loop.
    const fetched = bench.server.requests.length;
    cloud.offer = offerOf(bad, "1.2.0");
    const again = await bench.run({ backend: () => cloud.backend(), until: finalReport });
    assert.equal(bench.server.requests.length, fetched);
    assert.deepEqual(
      boots(again).map((b) => b.version),
      ["1.0.0"],
    );
    const declined = cloud.reports[cloud.reports.length - 1];
    assert.equal(declined.status, "rejected");
    assert.equal(declined.failure?.code, "rolled-back");
    assert.match(declined.failure!.message, /1\.2\.0 rolled back on this device before/);
  });
}

test("a checksum mismatch is reported failed and nothing is staged", async () => {
  fresh();
  const factory = bench.image("f100.bin", { version: "1.0.0", size: 100_000 });
  const next = bench.image("u130.bin", { version: "1.3.0", size: 120_000 });
  const cloud = new ScriptedCloud();
  cloud.offer = offerOf(next, "1.3.0", { hashes: { md5: "0".repeat(32) } });
  const events = await bench.run({ factory, backend: () => cloud.backend(), until: finalReport });
  assert.equal(boots(events).length, 1);
  const last = cloud.reports[cloud.reports.length - 1];
  assert.equal(last.status, "failed");
  assert.equal(last.failure?.code, "checksum-mismatch");
  assert.match(last.failure!.message, /MD5 of the image is [0-9a-f]{32}, the offer says 0{32}/);
  assert.ok(!events.some((e) => e.event === "reboot"));
});

test("policy refuses downgrades and oversized images, and reports the running version as current", async () => {
  fresh();
  const factory = bench.image("f200.bin", { version: "2.0.0", size: 100_000 });
  const older = bench.image("u190.bin", { version: "1.9.0" });
  const cases: [Offer, string, string | undefined][] = [
    [offerOf(older, "1.9.0"), "rejected", "offer-downgrade"],
    [offerOf(older, "2.1.0", { size: 64 * 1024 * 1024 }), "rejected", "offer-too-large"],
    [offerOf(factory, "2.0.0"), "current", undefined],
  ];
  for (const [offer, status, code] of cases) {
    const cloud = new ScriptedCloud();
    cloud.offer = offer;
    const events = await bench.run({ factory, backend: () => cloud.backend(), until: finalReport });
    assert.deepEqual(cloud.statuses(), [status], `${offer.version}`);
    assert.equal(cloud.reports[0].failure?.code, code);
    assert.equal(boots(events).length, 1);
  }
});

test("an image that is not an ESP32 app is refused from its first bytes", async () => {
  fresh();
  const factory = bench.image("f100.bin", { version: "1.0.0", size: 100_000 });
  const junk = bench.image("junk-src.bin", { version: "1.4.0", size: 70_000 });
  fs.writeFileSync(junk.file, Buffer.alloc(junk.size, 0x5a));
  const cloud = new ScriptedCloud();
  cloud.offer = offerOf(junk, "1.4.0", { hashes: {} });
  await bench.run({ factory, backend: () => cloud.backend(), until: finalReport });
  const last = cloud.reports[cloud.reports.length - 1];
  assert.equal(last.status, "failed");
  assert.equal(last.failure?.code, "image-invalid");
  assert.match(last.failure!.message, /0xE9/i);
});

test("a dropped connection resumes with Range from where it stopped, not from zero", async () => {
  fresh();
  const factory = bench.image("f100.bin", { version: "1.0.0", size: 100_000 });
  const next = bench.image("u150.bin", { version: "1.5.0", size: 400_000, seed: 5 });
  const cloud = new ScriptedCloud();
  cloud.offer = offerOf(next, "1.5.0");
  bench.server.requests.length = 0;
  bench.server.setFault({ kind: "short-body", bytes: 150_000, times: 1 });
  await bench.run({ factory, backend: () => cloud.backend(), until: finalReport });
  bench.server.setFault(undefined);
  assert.equal(cloud.reports[cloud.reports.length - 1].status, "succeeded");
  const gets = bench.server.requests.filter((r) => r.path.startsWith("/u150.bin"));
  assert.equal(gets.length, 2);
  assert.equal(gets[0].range, undefined);
  assert.equal(gets[1].range, "bytes=150000-");
  assert.equal(gets[1].status, 206);
});

test("an offer that names no version (afr_ota, Zerynth) takes the image's, and is refused if it is older", async () => {
  fresh();
  const factory = bench.image("f100.bin", { version: "1.0.0", size: 100_000 });
  const next = bench.image("u160.bin", { version: "1.6.0", size: 150_000 });
  const cloud = new ScriptedCloud();
  cloud.offer = offerOf(next, "", { id: "job-unnamed" });
  const events = await bench.run({ factory, backend: () => cloud.backend(), until: finalReport });
  assert.deepEqual(
    boots(events).map((b) => b.version),
    ["1.0.0", "1.6.0"],
  );
  assert.equal(cloud.reports[cloud.reports.length - 1].status, "succeeded");
  assert.equal(cloud.reports[cloud.reports.length - 1].offer.version, "1.6.0");

  const older = bench.image("u090.bin", { version: "0.9.0", size: 100_000 });
  cloud.offer = offerOf(older, "", { id: "job-older" });
  await bench.run({ backend: () => cloud.backend(), until: finalReport });
  const last = cloud.reports[cloud.reports.length - 1];
  assert.equal(last.status, "failed");
  assert.equal(last.failure?.code, "offer-downgrade");
});
