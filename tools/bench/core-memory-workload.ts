// The core's transfer loop streaming a generated ESP-IDF app image in 4 KiB chunks into a slot that
// keeps only a hash, with the JS heap sampled at every chunk. Run by core-memory.ts in a fresh Node
// process with --expose-gc: each case is one image size, sampled either as the run goes (what the
// heap holds, garbage included) or after a full gc every LIVE_EVERY chunks (what the run keeps).

import { createHash } from "node:crypto";
import { nodeClock } from "../../hosts/node/clock";
import { Journal } from "../../src/core/journal";
import type { Offer } from "../../src/core/offer";
import type { Logger, SlotWriter } from "../../src/core/ports";
import type { ByteSource } from "../../src/core/source";
import { transfer } from "../../src/core/transfer";
import { toHex } from "../../src/core/util/bytes";
import { MemoryStore } from "../../test/support/memory-store";
import { buildAppImage } from "../image/build";

export const CHUNK = 4096;
export const LIVE_EVERY = 64;
const SECTOR = 4096;
const logger: Logger = { log: () => {} };

export interface MemoryFigures {
  size: number;
  chunks: number;
  /** heapUsed after a full gc, just before the transfer starts. */
  baseline: number;
  /** Highest heapUsed seen at a chunk. */
  peak: number;
  /** heapUsed after a full gc once the transfer is over: what the run left behind. */
  after: number;
  slotMd5: string;
  imageMd5: string;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** With `live`, a full gc precedes every LIVE_EVERY-th sample and only those count. */
function measure(size: number, live: boolean) {
  return async (): Promise<MemoryFigures> => {
    if (!gc) throw new Error("run with --expose-gc (tools/bench/node-worker.ts via inFreshNode)");
    // The image is the network's side: built beforehand, its buffer is outside the JS heap and
    // the source hands out a fresh copy of each chunk, as a socket would.
    const image = buildAppImage({ version: "2.0.0", size, seed: 3 });
    const imageMd5 = createHash("md5").update(image).digest("hex");
    const imageSha256 = createHash("sha256").update(image).digest("hex");
    const slotHash = createHash("md5");
    let chunks = 0;
    let peak = 0;
    const sample = () => {
      if (live) gc();
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    };
    const slot: SlotWriter = {
      name: "ota_1",
      size: 128 * 1024 * 1024,
      sectorSize: SECTOR,
      async begin() {},
      async write(data) {
        slotHash.update(data);
        chunks++;
        if (!live || chunks % LIVE_EVERY === 0) sample();
      },
      async finish() {},
      async abort() {},
      async read() {
        throw new Error("the benchmark never resumes");
      },
    };
    const source: ByteSource = {
      async open(offset) {
        let at = offset;
        return {
          offset,
          async read() {
            if (at >= image.length) return null;
            const chunk = image.slice(at, at + CHUNK);
            at += chunk.length;
            return chunk;
          },
          close() {},
        };
      },
    };
    const offer: Offer = {
      backend: "bench",
      id: `job-${size}`,
      version: "2.0.0",
      size,
      source: { kind: "http", url: "http://unused/" },
      hashes: { md5: imageMd5, sha256: imageSha256 },
      context: {},
    };
    gc();
    const baseline = process.memoryUsage().heapUsed;
    peak = baseline;
    const result = await transfer({
      offer,
      source,
      slot,
      journal: new Journal(new MemoryStore(), logger),
      clock: nodeClock,
      logger,
      config: {
        journalIntervalBytes: 64 * 1024,
        maxAttempts: 3,
        backoff: { baseMs: 10, maxMs: 100 },
      },
      expect: { chipId: 0, version: offer.version },
    });
    sample();
    result.verifyImage();
    if (toHex(result.digests.md5!) !== imageMd5) throw new Error("the core's MD5 differs");
    gc();
    const after = process.memoryUsage().heapUsed;
    return {
      size,
      chunks,
      baseline,
      peak,
      after,
      slotMd5: slotHash.digest("hex"),
      imageMd5,
    };
  };
}

export const SIZES = { "1 MiB": 1024 * 1024, "64 MiB": 64 * 1024 * 1024 };

export default {
  "1 MiB": measure(SIZES["1 MiB"], false),
  "64 MiB": measure(SIZES["64 MiB"], false),
  "1 MiB live": measure(SIZES["1 MiB"], true),
  "64 MiB live": measure(SIZES["64 MiB"], true),
};
