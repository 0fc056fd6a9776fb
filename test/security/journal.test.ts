// A corrupt or forged resume journal cannot steer a resume: whatever it claims, the bytes that get
// staged are the image the cloud offered, fetched again from byte 0 when the journaled prefix does
// not hold up. The forgeries are written with a valid checksum, as an attacker who can write the
// store would write them.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { imageIdentity } from "../../src/core/journal";
import type { Offer } from "../../src/core/offer";
import { CheckedRecord } from "../../src/core/record";
import { FlashFile } from "../../hosts/node/flash";
import { findPartition, readPartitionTable } from "../../hosts/node/partitions";
import { FlashKeyValueStore } from "../../hosts/node/store";
import { ScriptedCloud } from "../support/scripted-cloud";
import { SimBench, boots, finalReport, offerOf } from "../support/sim";

let bench: SimBench;
before(async () => (bench = await SimBench.start()));
after(() => bench.close());

const silent = { log: () => {} };

/** A provisioned 1.0.0 board whose ota_1 holds `slotBytes` and whose journal says `journal`. */
async function forgedBoard(slotBytes: Uint8Array | undefined, journal: unknown): Promise<void> {
  await bench.provision(bench.image("factory.bin", { version: "1.0.0", size: 60_000 }));
  const flash = FlashFile.open(bench.flashPath);
  try {
    if (slotBytes) {
      const slot = findPartition(readPartitionTable(flash), "ota_1");
      flash.erase(slot.offset, Math.ceil(slotBytes.length / 4096) * 4096);
      flash.write(slot.offset, slotBytes);
    }
    await new CheckedRecord(new FlashKeyValueStore(flash), "ota.journal", silent).save(journal);
  } finally {
    flash.close();
  }
}

async function update(offer: Offer) {
  const cloud = new ScriptedCloud();
  cloud.offer = offer;
  const from = bench.server.requests.length;
  const events = await bench.run({ backend: () => cloud.backend(), until: finalReport });
  const ranges = bench.server.requests.slice(from).map((r) => r.range ?? "whole");
  return { events, ranges, last: cloud.reports[cloud.reports.length - 1] };
}

test("attack: a journal that claims most of the image over a tampered prefix gets the image fetched again", async () => {
  const image = bench.image("u110.bin", { version: "1.1.0", size: 200_000, seed: 3 });
  // The slot holds a modified copy whose header still passes: only the digests can tell.
  const tampered = image.bytes.slice();
  tampered[20_000] ^= 0xff;
  const offer = offerOf(image, "1.1.0");
  await forgedBoard(tampered, { image: imageIdentity(offer), slot: "ota_1", offset: 131_072 });
  const run = await update(offer);
  assert.equal(run.last.status, "succeeded", JSON.stringify(run.last.failure));
  assert.deepEqual(run.ranges, ["bytes=131072-", "whole"]);
  assert.ok(
    run.events.some((e) => e.event === "state" && e.cause === "resume-unverified"),
    "the failed resume is visible as its own transition",
  );
  assert.deepEqual(
    boots(run.events).map((b) => b.version),
    ["1.0.0", "1.1.0"],
  );
});

test("attack: a journal that points into an erased slot restarts the download from 0 at once", async () => {
  const image = bench.image("u110.bin", { version: "1.1.0", size: 200_000, seed: 3 });
  const offer = offerOf(image, "1.1.0");
  await forgedBoard(undefined, { image: imageIdentity(offer), slot: "ota_1", offset: 196_608 });
  const run = await update(offer);
  assert.equal(run.last.status, "succeeded");
  assert.deepEqual(run.ranges, ["whole"]);
});

test("a journal for another image, or with nonsense in it, is no journal", async () => {
  const image = bench.image("u110.bin", { version: "1.1.0", size: 200_000, seed: 3 });
  const offer = offerOf(image, "1.1.0");
  const other = { ...offer, hashes: { md5: "0".repeat(32) } };
  for (const journal of [
    { image: imageIdentity(other), slot: "ota_1", offset: 65_536 },
    { image: imageIdentity(offer), slot: "ota_1", offset: 1_000_000 },
    { image: imageIdentity(offer), slot: "ota_1", offset: 1000 },
    { image: imageIdentity(offer), slot: "ota_0", offset: 65_536 },
    "garbage",
  ]) {
    await forgedBoard(undefined, journal);
    const run = await update(offer);
    assert.equal(run.last.status, "succeeded", JSON.stringify(journal));
    assert.deepEqual(run.ranges, ["whole"], JSON.stringify(journal));
  }
});
