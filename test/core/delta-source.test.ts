// DeltaSource under the transfer loop: a connection dropped mid-patch, a power cut and a resume
// from the stored applier state, a stored state that cannot be used, a patch server without Range.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DeltaSource } from "../../src/core/delta/source";
import { otaError } from "../../src/core/errors";
import { Journal, imageIdentity } from "../../src/core/journal";
import type { Offer } from "../../src/core/offer";
import { CheckedRecord } from "../../src/core/record";
import type { ByteSource } from "../../src/core/source";
import { transfer } from "../../src/core/transfer";
import { nodeClock } from "../../hosts/node/clock";
import { baseImage, memoryBase, sha256Hex, targetImage, vectorPatch } from "../support/delta";
import { MemoryStore, recordingLogger } from "../support/memory-store";
import { MemorySlot } from "../xs/memory";

const base = baseImage();
const target = targetImage();
const patch = vectorPatch("esp_delta_ota");

interface Faults {
  /** The connection drops (transient) once at this patch byte. */
  dropAt?: number;
  /** The power fails (a fatal error ends the transfer) at this patch byte. */
  cutAt?: number;
  /** The server answers every request from byte 0. */
  ignoreRange?: boolean;
}

/** The patch in 300-byte pieces, with faults. */
function patchSource(faults: Faults): ByteSource & { opened: number[] } {
  const opened: number[] = [];
  return {
    opened,
    async open(offset) {
      opened.push(offset);
      let at = faults.ignoreRange ? 0 : offset;
      return {
        offset: at,
        async read() {
          if (faults.dropAt !== undefined && at >= faults.dropAt) {
            faults.dropAt = undefined;
            throw otaError("network", "connection reset", true);
          }
          if (faults.cutAt !== undefined && at >= faults.cutAt)
            throw otaError("internal", "power cut");
          if (at >= patch.length) return null;
          const piece = patch.slice(at, at + 300);
          at += piece.length;
          return piece;
        },
        close() {},
      };
    },
  };
}

const offer: Offer = {
  backend: "test",
  id: "delta-1",
  version: "1.0.1",
  size: target.length,
  source: { kind: "http", url: "" },
  hashes: { sha256: sha256Hex(target) },
  context: {},
};

function device() {
  const store = new MemoryStore();
  const logger = recordingLogger();
  const slot = new MemorySlot(1 << 20);
  const journal = new Journal(store, logger);
  const run = (patchBytes: ByteSource) =>
    transfer({
      offer,
      source: new DeltaSource({
        patch: patchBytes,
        patchSize: patch.length,
        targetSize: target.length,
        format: "esp_delta_ota",
        base: memoryBase(base),
        baseSha256: base.slice(-32),
        identity: imageIdentity(offer),
        sectorSize: 4096,
        store,
        logger,
      }),
      slot,
      journal,
      clock: nodeClock,
      logger,
      config: { journalIntervalBytes: 16 * 1024, maxAttempts: 3, backoff: { baseMs: 1, maxMs: 1 } },
    });
  const made = () => slot.bytes.subarray(0, target.length);
  return { store, logger, slot, run, made };
}

test("a dropped connection resumes the patch from the state in memory", async () => {
  const d = device();
  const source = patchSource({ dropAt: 2400 });
  const result = await d.run(source);
  assert.equal(result.resumedFrom, 0);
  assert.equal(Buffer.from(result.digests.sha256!).toString("hex"), sha256Hex(target));
  assert.ok(Buffer.from(d.made()).equals(Buffer.from(target)));
  assert.equal(source.opened.length, 2);
  assert.ok(source.opened[1] > 0 && source.opened[1] <= 2400, `reopened at ${source.opened[1]}`);
});

test("after a power cut the patch is fetched from the stored state, not from zero", async () => {
  const d = device();
  await assert.rejects(d.run(patchSource({ cutAt: 2400 })), /power cut/);
  assert.ok(d.store.data.has("ota.delta"));
  const source = patchSource({});
  const result = await d.run(source);
  assert.ok(result.resumedFrom > 0, `resumed from ${result.resumedFrom}`);
  assert.ok(source.opened[0] > 0 && source.opened[0] <= 2400, `fetched from ${source.opened[0]}`);
  assert.ok(!d.store.data.has("ota.delta"), "the stored state goes once the target is whole");
  assert.equal(Buffer.from(result.digests.sha256!).toString("hex"), sha256Hex(target));
  assert.ok(Buffer.from(d.made()).equals(Buffer.from(target)));
});

test("a stored state that is malformed or another delta's starts the patch from its first byte", async () => {
  for (const spoil of ["malformed", "another"] as const) {
    const d = device();
    await assert.rejects(d.run(patchSource({ cutAt: 2400 })), /power cut/);
    const record = new CheckedRecord<Record<string, unknown>>(d.store, "ota.delta", d.logger);
    const saved = (await record.load())!;
    if (spoil === "malformed") saved.history = "not hex";
    else saved.identity = "another offer";
    await record.save(saved);
    const source = patchSource({});
    const result = await d.run(source);
    assert.ok(result.resumedFrom > 0, spoil);
    assert.equal(source.opened[0], 0, spoil);
    assert.ok(Buffer.from(d.made()).equals(Buffer.from(target)), spoil);
  }
});

test("a patch server that ignores Range makes the target start again from zero", async () => {
  const d = device();
  await assert.rejects(d.run(patchSource({ cutAt: 2400 })), /power cut/);
  const result = await d.run(patchSource({ ignoreRange: true }));
  assert.ok(d.logger.lines.some((line) => line.includes("ignored the resume request")));
  assert.equal(Buffer.from(result.digests.sha256!).toString("hex"), sha256Hex(target));
  assert.ok(Buffer.from(d.made()).equals(Buffer.from(target)));
});

test("a patch whose target is not the offer's size is refused as soon as its header says so", async () => {
  const store = new MemoryStore();
  const source = new DeltaSource({
    patch: patchSource({}),
    patchSize: patch.length,
    targetSize: target.length + 4096,
    format: "esp_delta_ota",
    base: memoryBase(base),
    baseSha256: base.slice(-32),
    identity: "x",
    sectorSize: 4096,
    store,
    logger: recordingLogger(),
  });
  const stream = await source.open(0);
  await assert.rejects(stream.read(), {
    code: "delta-invalid",
    message: `the patch makes ${target.length} bytes, the offer announces ${target.length + 4096}`,
  });
});
