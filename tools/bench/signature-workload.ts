// The cost of one ECDSA P-256 verification with the portable verifier, measured inside an engine
// (XS, and a fresh Node), and beside it in the same engine the SHA-256 of a 1 MiB image, so that
// the check can be weighed in bytes hashed. Each case returns the median of its runs. The "sbv2"
// cases (XS only: they fetch espsecure's vectors from the harness) verify block 0 of the sectors
// espsecure wrote, RSA-3072-PSS and ECDSA P-256, `SBV2_RUNS` times or not at all, so that the
// compute meter's difference is the cost of the verifications alone.

import { Sha256 } from "../../src/core/hash/index";
import { parseSignatureSector, verifyBlock } from "../../src/core/signature/sector";
import { verifyP256 } from "../../src/core/signature/p256";
import { fromHex, toHex, utf8Encode } from "../../src/core/util/bytes";
import { VECTORS } from "../../test/xs/cases/signature";
import { host, type Cases } from "../../test/xs/runtime";

const VERIFY_RUNS = { xs: 15, node: 200 };
export const SBV2_RUNS = 4;
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

/** Block 0 of the sector espsecure appended to app-32k.bin, RSA-3072 or ECDSA P-256. */
function sbv2Block(rsa: boolean) {
  const name = rsa ? "app-32k.sbv2-rsa.bin" : "app-32k.sbv2-a.bin";
  const sector = fromHex(host<string>("fixture", { name, offset: 32768, length: 4096 }))!;
  return parseSignatureSector(sector)[0];
}

/** Verifies block 0 `runs` times over the digest it names (espsecure's, of the image). */
function sbv2Case(rsa: boolean, runs: number) {
  return () => {
    const block = sbv2Block(rsa);
    let valid = true;
    for (let i = 0; i < runs; i++) valid = verifyBlock(block, block.imageDigest) && valid;
    return String(valid);
  };
}

export default {
  "sbv2 setup": sbv2Case(false, 0),
  "sbv2 rsa setup": sbv2Case(true, 0),
  "sbv2 rsa": sbv2Case(true, SBV2_RUNS),
  "sbv2 ecdsa": sbv2Case(false, SBV2_RUNS),
  "sbv2 rsa timed"() {
    const block = sbv2Block(true);
    return timeMedian(5, () => String(verifyBlock(block, block.imageDigest)));
  },
  "sbv2 ecdsa timed"() {
    const block = sbv2Block(false);
    return timeMedian(VERIFY_RUNS.xs, () => String(verifyBlock(block, block.imageDigest)));
  },
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
