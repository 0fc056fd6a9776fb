// Incremental hashes in portable TypeScript, for hosts without a native digest and as the
// reference for those with one.
//
// What digest() returns, with toHex() of it for the ASCII bytes "123456789", and the notations
// matchDigest() accepts for an expected value (reference/protocols-and-peers.md, section 4 and the
// addendum on how ThingsBoard writes fw_checksum):
//
// | algorithm   | digest() bytes                            | toHex of "123456789"      | accepted notations                    |
// |-------------|-------------------------------------------|---------------------------|---------------------------------------|
// | md5         | RFC 1321, 16 bytes                        | 25f9e794323b453885f5...   | hex, either case                      |
// | sha256      | FIPS 180-4, 32 bytes                      | 15e2b0d3c33891ebb0f1...   | hex, either case                      |
// | sha384      | FIPS 180-4, 48 bytes                      | eb455d56d2c1a69de64e...   | hex, either case                      |
// | sha512      | FIPS 180-4, 64 bytes                      | d9e6762dd1c8eaf6d61b...   | hex, either case                      |
// | crc32       | zlib's CRC-32, 4 bytes big-endian         | cbf43926                  | hex; little-endian hex "2639f4cb"     |
// |             |                                           |                           | (Guava HashCode.fromInt, ThingsBoard);|
// |             |                                           |                           | hex without leading zeros             |
// |             |                                           |                           | (Long.toHexString)                    |
// | murmur3_32  | x86_32, seed 0, 4 bytes big-endian        | b4fef382                  | as crc32 (little-endian: "82f3feb4")  |
// | murmur3_128 | x64_128, seed 0, Guava's asBytes(): h1    | a4cc66db5e64843c05a1...   | hex, either case (ThingsBoard writes  |
// |             | little-endian, then h2 little-endian      |                           | these bytes: Guava's toString())      |

import { otaError } from "../errors";
import type { Digest, HashAlgorithm, NativeDigests } from "../ports";
import { toHex } from "../util/bytes";
import { Crc32 } from "./crc32";
import { Md5 } from "./md5";
import { Murmur3_128, Murmur3_32 } from "./murmur3";
import { Sha256 } from "./sha256";
import { Sha384, Sha512 } from "./sha512";

export { crc32, Crc32 } from "./crc32";
export { Md5 } from "./md5";
export { Murmur3_128, Murmur3_32 } from "./murmur3";
export { Sha256 } from "./sha256";
export { Sha384, Sha512 } from "./sha512";

export const HASH_ALGORITHMS: readonly HashAlgorithm[] = [
  "md5",
  "sha256",
  "sha384",
  "sha512",
  "crc32",
  "murmur3_32",
  "murmur3_128",
];

/** The host's native digest when it has one for `algorithm`, else the portable one. */
export function createDigest(algorithm: HashAlgorithm, hostDigests?: NativeDigests): Digest {
  const digest = hostDigests ? hostDigests(algorithm) : undefined;
  if (digest) return digest;
  switch (algorithm) {
    case "md5":
      return new Md5();
    case "sha256":
      return new Sha256();
    case "sha384":
      return new Sha384();
    case "sha512":
      return new Sha512();
    case "crc32":
      return new Crc32();
    case "murmur3_32":
      return new Murmur3_32();
    case "murmur3_128":
      return new Murmur3_128();
  }
  // Reached only with a name from outside the type system (a document parsed at run time).
  throw otaError("offer-unsupported", "unknown hash algorithm " + String(algorithm));
}

/** How an expected checksum was written, when it matched. */
export type DigestNotation = "hex" | "little-endian hex" | "hex without leading zeros";

/**
 * Compares a digest with an expected checksum written the ways clouds write it (see the table
 * above) and says which notation matched.
 */
export function matchDigest(
  algorithm: HashAlgorithm,
  digest: Uint8Array,
  expected: string,
): { match: boolean; notation?: DigestNotation } {
  const text = expected.trim().toLowerCase();
  const hex = toHex(digest);
  if (text === hex) return { match: true, notation: "hex" };
  if (algorithm === "crc32" || algorithm === "murmur3_32") {
    const reversed = new Uint8Array(digest.length);
    for (let i = 0; i < digest.length; i++) reversed[i] = digest[digest.length - 1 - i];
    if (text === toHex(reversed)) return { match: true, notation: "little-endian hex" };
    if (text === withoutLeadingZeros(hex)) {
      return { match: true, notation: "hex without leading zeros" };
    }
  }
  return { match: false };
}

/** Hex as printf's %x writes it: no leading zeros, "0" for zero (/^0+(?=.)/ removed). */
function withoutLeadingZeros(hex: string): string {
  let start = 0;
  while (start < hex.length - 1 && hex.charAt(start) === "0") start++;
  return hex.substring(start);
}
