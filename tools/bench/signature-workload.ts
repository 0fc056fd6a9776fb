// The cost of one ECDSA P-256 verification with the portable verifier, measured inside an engine
// (XS, and a fresh Node), and beside it in the same engine the SHA-256 of a 1 MiB image, so that
// the check can be weighed in bytes hashed. Each case returns the median of its runs.

import { Sha256 } from "../../src/core/hash/index";
import { verifyP256 } from "../../src/core/signature/p256";
import { fromHex, toHex, utf8Encode } from "../../src/core/util/bytes";
import { VECTORS } from "../../test/xs/cases/signature";
import type { Cases } from "../../test/xs/runtime";

const VERIFY_RUNS = { xs: 15, node: 200 };
export const HASH_SIZE = 1024 * 1024;
const HASH_CHUNK = 16 * 1024;
const HASH_RUNS = 5;

const now: () => number =
  typeof performance !== "undefined" ? () => performance.now() : () => Date.now();

export interface Timing {
  /** Median over the runs, in ms. */
  ms: number;
  runs: number;
  /** What the runs computed, for the caller to check. */
  result: string;
}

export function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The median time of `runs` runs of `run` after a warm-up run, and what the warm-up gave. */
export function timeMedian(runs: number, run: () => string): Timing {
  const result = run();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = now();
    run();
    times.push(now() - started);
  }
  return { ms: median(times), runs, result };
}

/** Vector 0 of the XS signature cases: a key, a message, its SHA-256 and its signature. */
export function benchVector() {
  const vector = VECTORS[0];
  const message = utf8Encode(vector.message);
  const sha = new Sha256();
  sha.update(message);
  const signature = fromHex(vector.signature)!;
  return { key: fromHex(vector.key)!, message, digest: sha.digest(), signature };
}

function verifyCase(runs: number) {
  return () => {
    const { key, digest, signature } = benchVector();
    return timeMedian(runs, () => String(verifyP256(key, digest, signature)));
  };
}

export default {
  "verify in xs": verifyCase(VERIFY_RUNS.xs),
  "verify in node": verifyCase(VERIFY_RUNS.node),
  "sha256 of 1 MiB"() {
    const data = new Uint8Array(HASH_SIZE);
    for (let i = 0; i < HASH_SIZE; i++) data[i] = (i * 2654435761) >>> 24;
    return timeMedian(HASH_RUNS, () => {
      const sha = new Sha256();
      for (let at = 0; at < HASH_SIZE; at += HASH_CHUNK)
        sha.update(data.subarray(at, at + HASH_CHUNK));
      return toHex(sha.digest());
    });
  },
} satisfies Cases;
