// Node's native MD5, SHA-256 (crypto) and CRC32 (zlib) over the same data and chunks as
// hash-workload.ts, with the same timing, for the "ours / native" ratios.

import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import { CHUNK, measure, SIZE, testData } from "./hash-workload";

function chunks(): Uint8Array[] {
  const data = testData();
  const result: Uint8Array[] = [];
  for (let at = 0; at < SIZE; at += CHUNK) result.push(data.subarray(at, at + CHUNK));
  return result;
}

function nativeHash(algorithm: string) {
  return () => {
    const pieces = chunks();
    return measure(() => {
      const hash = createHash(algorithm);
      for (const piece of pieces) hash.update(piece);
      return hash.digest("hex");
    });
  };
}

export default {
  md5: nativeHash("md5"),
  sha256: nativeHash("sha256"),
  crc32() {
    const pieces = chunks();
    return measure(() => {
      let value = 0;
      for (const piece of pieces) value = zlib.crc32(piece, value);
      return (value >>> 0).toString(16).padStart(8, "0");
    });
  },
};
