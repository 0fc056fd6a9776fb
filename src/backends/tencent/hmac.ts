// HMAC (RFC 2104) over the portable digests: what Tencent's key authentication needs, on engines
// that have none (Espruino, a bare XS app).

import { createDigest } from "../../core/hash/index";
import type { Digest } from "../../core/ports";
import { Sha1 } from "./sha1";

export type HmacAlgorithm = "sha1" | "sha256";

/** Both hashes take 64-byte blocks. */
const BLOCK_SIZE = 64;

function newDigest(algorithm: HmacAlgorithm): Digest {
  return algorithm === "sha1" ? new Sha1() : createDigest("sha256");
}

export function hmac(algorithm: HmacAlgorithm, key: Uint8Array, message: Uint8Array): Uint8Array {
  let block = key;
  if (block.length > BLOCK_SIZE) {
    const digest = newDigest(algorithm);
    digest.update(key);
    block = digest.digest();
  }
  const inner = new Uint8Array(BLOCK_SIZE);
  const outer = new Uint8Array(BLOCK_SIZE);
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const k = i < block.length ? block[i] : 0;
    inner[i] = k ^ 0x36;
    outer[i] = k ^ 0x5c;
  }
  const first = newDigest(algorithm);
  first.update(inner);
  first.update(message);
  const second = newDigest(algorithm);
  second.update(outer);
  second.update(first.digest());
  return second.digest();
}
