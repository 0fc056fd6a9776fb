import { test } from "node:test";
import assert from "node:assert/strict";
import { Journal, imageIdentity } from "../../src/core/journal";
import type { Offer } from "../../src/core/offer";
import { MemoryStore, recordingLogger } from "../support/memory-store";

const offer: Offer = {
  backend: "aws",
  id: "job-1",
  version: "1.1.0",
  size: 300_000,
  source: { kind: "http", url: "https://example.invalid/a.bin?sig=1" },
  hashes: { md5: "00112233445566778899aabbccddeeff" },
  context: {},
};

test("the journal gives back the durable offset of the same image and slot", async () => {
  const store = new MemoryStore();
  const journal = new Journal(store, recordingLogger());
  const image = imageIdentity(offer);
  await journal.save(image, "ota_1", 65536);
  assert.equal(await journal.resumeOffset(image, "ota_1", offer.size, 4096), 65536);
  // A fresh presigned URL is the same image: the URL is not part of its identity.
  const refreshed = {
    ...offer,
    source: { kind: "http" as const, url: "https://example.invalid/a.bin?sig=2" },
  };
  assert.equal(
    await journal.resumeOffset(imageIdentity(refreshed), "ota_1", offer.size, 4096),
    65536,
  );
});

test("a journal for another offer, another slot or an impossible offset is not used", async () => {
  const store = new MemoryStore();
  const journal = new Journal(store, recordingLogger());
  const image = imageIdentity(offer);
  await journal.save(image, "ota_1", 65536);
  assert.equal(
    await journal.resumeOffset(
      imageIdentity({ ...offer, version: "1.2.0" }),
      "ota_1",
      offer.size,
      4096,
    ),
    0,
  );
  assert.equal(
    await journal.resumeOffset(
      imageIdentity({ ...offer, hashes: { md5: "ff".repeat(16) } }),
      "ota_1",
      offer.size,
      4096,
    ),
    0,
  );
  assert.equal(await journal.resumeOffset(image, "ota_0", offer.size, 4096), 0);
  assert.equal(
    await journal.resumeOffset(image, "ota_1", 60_000, 4096),
    0,
    "offset past the image",
  );
  await journal.save(image, "ota_1", 5000);
  assert.equal(await journal.resumeOffset(image, "ota_1", offer.size, 4096), 0, "unaligned offset");
});

test("a corrupt or forged journal is discarded, never trusted, never fatal", async () => {
  const store = new MemoryStore();
  const logger = recordingLogger();
  const journal = new Journal(store, logger);
  const image = imageIdentity(offer);
  await journal.save(image, "ota_1", 65536);
  const saved = store.data.get("ota.journal")!;
  const corruptions = [
    saved.replace("65536", "98304"), // forged offset, stale checksum
    saved.slice(0, saved.length - 3), // torn write
    "not json|00000000",
    "",
    "\u0000\u0000\u0000",
  ];
  for (const value of corruptions) {
    store.data.set("ota.journal", value);
    assert.equal(
      await journal.resumeOffset(image, "ota_1", offer.size, 4096),
      0,
      JSON.stringify(value),
    );
    assert.equal(store.data.has("ota.journal"), false, "a bad journal is deleted");
  }
  assert.ok(logger.lines.some((l) => /fails its checksum/.test(l)));
});

test("a store that cannot be read counts as no journal", async () => {
  const store = new MemoryStore();
  store.get = async () => {
    throw new Error("NVS read error");
  };
  const logger = recordingLogger();
  const journal = new Journal(store, logger);
  assert.equal(await journal.resumeOffset(imageIdentity(offer), "ota_1", offer.size, 4096), 0);
  assert.ok(logger.lines.some((l) => /cannot read/.test(l)));
});
