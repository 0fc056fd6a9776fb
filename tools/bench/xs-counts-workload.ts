// Engine-independent counts inside xsnap: each case's compute meter (and the heap's growth) is
// read by the driver, tools/bench/xs-counts.ts. The data is prepared by separate cases so that a
// measured case does only the work it names: 1 MiB in 4 KiB chunks through a hash or a bare copy
// loop, or the core's transfer loop over an image with a slot and digests that cost what a
// board's native ones do (nothing in JS).

import SparkMD5 from "spark-md5";
import { createDigest } from "../../src/core/hash/index";
import { Journal } from "../../src/core/journal";
import type { Offer } from "../../src/core/offer";
import type {
  Digest,
  HashAlgorithm,
  KeyValueStore,
  Logger,
  SlotWriter,
} from "../../src/core/ports";
import type { ByteSource } from "../../src/core/source";
import { transfer } from "../../src/core/transfer";
import { fromHex, toHex } from "../../src/core/util/bytes";
import { check, clock, host, type Cases } from "../../test/xs/runtime";

export const SIZE = 1024 * 1024;
export const CHUNK = 4096;

interface HashData {
  chunks: Uint8Array[];
  /** The same chunks as ArrayBuffers, which spark-md5 takes. */
  buffers: ArrayBuffer[];
  target: Uint8Array;
}
let hashData: HashData | undefined;

function prepared(): HashData {
  if (!hashData) throw new Error("run the prepare case first");
  return hashData;
}

function ours(algorithm: HashAlgorithm) {
  return () => {
    const { chunks } = prepared();
    const digest = createDigest(algorithm);
    for (let i = 0; i < chunks.length; i++) digest.update(chunks[i]);
    return toHex(digest.digest());
  };
}

interface TransferData {
  offer: Offer;
  header: Uint8Array;
  body: Uint8Array;
}
let transferData: TransferData | undefined;

class MemoryStore implements KeyValueStore {
  private values: Record<string, string> = {};
  async get(key: string) {
    return Object.prototype.hasOwnProperty.call(this.values, key) ? this.values[key] : undefined;
  }
  async set(key: string, value: string) {
    this.values[key] = value;
  }
  async delete(key: string) {
    delete this.values[key];
  }
}

const logger: Logger = { log: () => {} };

/** A board's hash peripheral as the core sees it: no JS work per byte, the value at the end. */
function peripheralDigest(hex: string): Digest {
  return { update() {}, digest: () => fromHex(hex)! };
}

export default {
  empty: () => "",
  /** xsnap's full garbage collection, so that the slots in use after it are the live ones. */
  collect() {
    (globalThis as { gc?: () => void }).gc!();
    return "";
  },
  "prepare hashes"() {
    const data = new Uint8Array(SIZE);
    let x = 0x2545f491;
    for (let i = 0; i < SIZE; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = x;
    }
    const chunks: Uint8Array[] = [];
    const buffers: ArrayBuffer[] = [];
    for (let at = 0; at < SIZE; at += CHUNK) {
      chunks.push(data.subarray(at, at + CHUNK));
      buffers.push(data.slice(at, at + CHUNK).buffer);
    }
    hashData = { chunks, buffers, target: new Uint8Array(CHUNK) };
    return toHex(data.subarray(0, 16));
  },
  md5: ours("md5"),
  sha256: ours("sha256"),
  crc32: ours("crc32"),
  "spark-md5"() {
    const { buffers } = prepared();
    const spark = new SparkMD5.ArrayBuffer();
    for (let i = 0; i < buffers.length; i++) spark.append(buffers[i]);
    return spark.end();
  },
  /** What reading every byte once costs: each chunk copied a byte at a time. */
  copy() {
    const { chunks, target } = prepared();
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i];
      for (let j = 0; j < chunk.length; j++) target[j] = chunk[j];
    }
    return target[0];
  },
  /** The cheapest loop over every 32-bit word: each chunk copied a word at a time. */
  "copy words"() {
    const { chunks, target } = prepared();
    const to = new Int32Array(target.buffer);
    for (let i = 0; i < chunks.length; i++) {
      const from = new Int32Array(chunks[i].buffer, chunks[i].byteOffset, CHUNK >> 2);
      for (let j = 0; j < from.length; j++) to[j] = from[j];
    }
    return to[0];
  },
  "prepare 1 MiB": () => prepareTransfer(1024 * 1024),
  "prepare 16 MiB": () => prepareTransfer(16 * 1024 * 1024),
  async transfer() {
    if (!transferData) throw new Error("run a prepare case first");
    const { offer, header, body } = transferData;
    const source: ByteSource = {
      async open(offset) {
        let at = offset;
        return {
          offset,
          // The network's bytes are the host's: the same buffer stands for every chunk after
          // the first, which holds the real image header.
          async read() {
            if (at >= offer.size) return null;
            const length = Math.min(CHUNK, offer.size - at);
            const chunk = at === 0 ? header : length === CHUNK ? body : body.subarray(0, length);
            at += length;
            return chunk;
          },
          close() {},
        };
      },
    };
    let written = 0;
    const slot: SlotWriter = {
      name: "ota_1",
      size: 32 * 1024 * 1024,
      sectorSize: 4096,
      // esp_ota_end checks the image, as on a board.
      verifiesImage: true,
      async begin() {},
      async write(data) {
        written += data.length;
      },
      async finish() {},
      async abort() {},
      async read() {
        throw new Error("the benchmark never resumes");
      },
    };
    const result = await transfer({
      offer,
      source,
      slot,
      journal: new Journal(new MemoryStore(), logger),
      clock,
      logger,
      nativeDigests: (algorithm) => {
        const hex = offer.hashes[algorithm];
        return hex === undefined ? undefined : peripheralDigest(hex);
      },
      config: {
        journalIntervalBytes: 64 * 1024,
        maxAttempts: 3,
        backoff: { baseMs: 10, maxMs: 100 },
      },
      expect: { chipId: 0, version: offer.version },
    });
    check(written === offer.size && result.fetched === offer.size, `wrote ${written} bytes`);
    return written;
  },
} satisfies Cases;

function prepareTransfer(requested: number): number {
  const { size, md5, sha256 } = host<{ size: number; md5: string; sha256: string }>("appImage", {
    version: "2.0.0",
    size: requested,
    seed: 3,
  });
  transferData = {
    offer: {
      backend: "bench",
      id: "job-bench",
      version: "2.0.0",
      size,
      source: { kind: "http", url: "http://unused/" },
      hashes: { md5, sha256 },
      context: {},
    },
    header: fromHex(host<string>("imageSlice", { offset: 0, length: CHUNK }))!,
    body: new Uint8Array(CHUNK),
  };
  return size;
}
