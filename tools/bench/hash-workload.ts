// Hash throughput measured inside an engine: bundled with the XS harness runtime and run both in
// XS (xsnap) and in a Node vm context, so both engines run the same code. Each case returns the
// best time of a few runs over the same data, and the digest so the caller can check it.

import SparkMD5 from "spark-md5";
import { createDigest } from "../../src/core/hash/index";
import type { HashAlgorithm } from "../../src/core/ports";
import { toHex } from "../../src/core/util/bytes";
import type { Cases } from "../../test/xs/runtime";

export const SIZE = 4 * 1024 * 1024;
export const CHUNK = 16 * 1024;
export const RUNS = 3;

const now: () => number =
  typeof performance !== "undefined" ? () => performance.now() : () => Date.now();

export function testData(): Uint8Array {
  const data = new Uint8Array(SIZE);
  let x = 0x2545f491;
  for (let i = 0; i < SIZE; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x;
  }
  return data;
}

/** Best time in ms of RUNS runs after a warm-up run, and the digest the runs gave. */
export function measure(run: () => string): { ms: number; hex: string } {
  const hex = run();
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const started = now();
    run();
    best = Math.min(best, now() - started);
  }
  return { ms: best, hex };
}

function ours(algorithm: HashAlgorithm) {
  return () => {
    const data = testData();
    return measure(() => {
      const digest = createDigest(algorithm);
      for (let at = 0; at < SIZE; at += CHUNK) digest.update(data.subarray(at, at + CHUNK));
      return toHex(digest.digest());
    });
  };
}

export default {
  md5: ours("md5"),
  sha256: ours("sha256"),
  crc32: ours("crc32"),
  "spark-md5"() {
    // spark-md5 takes ArrayBuffers: the chunks are cut beforehand, outside the timing.
    const data = testData();
    const chunks: ArrayBuffer[] = [];
    for (let at = 0; at < SIZE; at += CHUNK) chunks.push(data.slice(at, at + CHUNK).buffer);
    return measure(() => {
      const spark = new SparkMD5.ArrayBuffer();
      for (const chunk of chunks) spark.append(chunk);
      return spark.end();
    });
  },
} satisfies Cases;
