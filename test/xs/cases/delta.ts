// The delta applier inside the engine: the esp_delta_ota vector applied through DeltaSource and the
// transfer loop into a slot in memory, the patch arriving in pieces of random sizes; then a power
// cut in the middle and a resume from the saved applier state, fetching the patch from where that
// state had reached.
import { DeltaSource } from "../../../src/core/delta/source";
import { appendedSha256 } from "../../../src/core/delta/base";
import { Journal, imageIdentity } from "../../../src/core/journal";
import type { Offer } from "../../../src/core/offer";
import type { Logger } from "../../../src/core/ports";
import { transfer } from "../../../src/core/transfer";
import { toHex } from "../../../src/core/util/bytes";
import { MemorySlot, MemoryStore, chunkedSource, hostImage } from "../memory";
import { check, checkEqual, clock, host, type Cases } from "../runtime";

const SECTOR = 4096;

function vector(file: "base" | "patch" | "target"): { bytes: Uint8Array; sha256: string } {
  const { size, sha256 } = host<{ size: number; sha256: string }>("deltaVector", { file });
  return { bytes: file === "target" ? new Uint8Array(size) : hostImage(size), sha256 };
}

const logger: Logger = { log: () => {} };

async function run(cutAt: number | undefined): Promise<unknown> {
  const base = vector("base").bytes;
  const patch = vector("patch").bytes;
  const target = vector("target");
  const running = {
    name: "ota_0",
    size: base.length,
    read: async (o: number, n: number) => base.slice(o, o + n),
  };
  const store = new MemoryStore();
  const slot = new MemorySlot(0x100000);
  const journal = new Journal(store, logger);
  const offer: Offer = {
    backend: "xs",
    id: "delta-1",
    version: "1.0.1",
    size: target.bytes.length,
    source: { kind: "http", url: "" },
    hashes: { sha256: target.sha256 },
    context: {},
  };
  const cut: { at?: number } = { at: cutAt };
  const patchBytes = chunkedSource(patch, 700, cut);
  const source = () =>
    new DeltaSource({
      patch: patchBytes,
      patchSize: patch.length,
      targetSize: target.bytes.length,
      format: "esp_delta_ota",
      base: running,
      baseSha256: baseSha,
      identity: imageIdentity(offer),
      sectorSize: SECTOR,
      store,
      logger,
    });
  const baseSha = await appendedSha256(running);
  const context = {
    offer,
    slot,
    journal,
    clock,
    logger,
    config: {
      journalIntervalBytes: 16 * 1024,
      maxAttempts: 1,
      backoff: { baseMs: 1, maxMs: 1 },
    },
  };
  let cutHappened = false;
  let result;
  try {
    result = await transfer({ ...context, source: source() });
  } catch (error) {
    check(cutAt !== undefined, `an uncut run failed: ${String(error)}`);
    cutHappened = true;
    cut.at = undefined;
    // Reboot: a new source and applier, the same store and slot.
    result = await transfer({ ...context, source: source() });
  }
  checkEqual(toHex(result.digests.sha256!), target.sha256, "the target's SHA-256");
  return { resumedFrom: result.resumedFrom, cutHappened, opened: patchBytes.opened };
}

const cases: Cases = {
  async "the esp_delta_ota vector applies through the transfer loop"() {
    const outcome = (await run(undefined)) as { resumedFrom: number; opened: number[] };
    checkEqual(outcome.resumedFrom, 0, "resumed from");
    return outcome;
  },
  async "a power cut mid-patch resumes from the saved state, not from zero"() {
    const outcome = (await run(2500)) as { resumedFrom: number; opened: number[] };
    check(outcome.resumedFrom > 0, `resumed from ${outcome.resumedFrom}`);
    // The last piece before the cut may reach 700 bytes past it.
    check(
      outcome.opened[1] > 0 && outcome.opened[1] <= 2500 + 700,
      `patch reopened at ${outcome.opened[1]}`,
    );
    return outcome;
  },
};

export default cases;
