// The portable hashes inside XS: published vectors, and random inputs fed in random chunks
// (0-byte chunks and chunks that split blocks), checked against a one-shot digest and, for the
// algorithms Node has natively, against Node's crypto and zlib.

import { createDigest, HASH_ALGORITHMS, matchDigest } from "../../../src/core/hash/index";
import type { HashAlgorithm } from "../../../src/core/ports";
import { toHex, utf8Encode } from "../../../src/core/util/bytes";
import { checkEqual, clock, host, type Case, type Cases } from "../runtime";

function hexOf(algorithm: HashAlgorithm, chunks: Uint8Array[]): string {
  const digest = createDigest(algorithm);
  for (const chunk of chunks) digest.update(chunk);
  return toHex(digest.digest());
}

// [algorithm, input, expected]: RFC 1321, FIPS 180 examples, the CRC-32 check value, and Guava's
// Murmur3Hash32Test / Murmur3Hash128Test (seed 0; 128-bit as h1, h2 little-endian).
const VECTORS: [HashAlgorithm, string, string][] = [
  ["md5", "", "d41d8cd98f00b204e9800998ecf8427e"],
  ["md5", "a", "0cc175b9c0f1b6a831c399e269772661"],
  ["md5", "abc", "900150983cd24fb0d6963f7d28e17f72"],
  ["md5", "message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
  ["md5", "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
  [
    "md5",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "d174ab98d277d9f5a5611c2c9f419d9f",
  ],
  ["md5", "1234567890".repeat(8), "57edf4a22be3c955ac49da2e2107b67a"],
  ["sha256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  [
    "sha256",
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  ],
  [
    "sha384",
    "abc",
    "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
  ],
  [
    "sha512",
    "abc",
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
  ],
  ["crc32", "123456789", "cbf43926"],
  ["murmur3_32", "hello", "248bfa47"],
  ["murmur3_32", "The quick brown fox jumps over the lazy dog", "2e4ff723"],
  ["murmur3_128", "hell", "67f8103e694299624753ebba820bdb92"],
  [
    "murmur3_128",
    "The quick brown fox jumps over the lazy dog",
    "6c1b07bc7bbc4be347939ac4a93c437a",
  ],
];

/** Lengths around every block size (4, 16, 64, 128), then random ones. */
function lengths(): number[] {
  const result = [0, 1, 3, 4, 5, 15, 16, 17, 55, 56, 57, 63, 64, 65, 111, 112, 113, 127, 128, 129];
  for (let i = 0; i < 12; i++) result.push(Math.floor(clock.random() * 5000));
  return result;
}

function randomBytes(length: number): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = Math.floor(clock.random() * 256);
  return data;
}

/** `data` cut at random points, some of them repeated to give 0-byte chunks. */
function randomChunks(data: Uint8Array): Uint8Array[] {
  const cuts: number[] = [];
  const count = Math.floor(clock.random() * 8);
  for (let i = 0; i < count; i++) cuts.push(Math.floor(clock.random() * (data.length + 1)));
  if (count > 0) cuts.push(cuts[0]);
  cuts.sort((a, b) => a - b);
  cuts.push(data.length);
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const cut of cuts) {
    chunks.push(data.subarray(at, cut));
    at = cut;
  }
  return chunks;
}

const NATIVE_IN_NODE: HashAlgorithm[] = ["md5", "sha256", "sha384", "sha512", "crc32"];

function randomSplits(algorithm: HashAlgorithm): Case {
  return () => {
    const results: string[] = [];
    for (const length of lengths()) {
      const data = randomBytes(length);
      const whole = hexOf(algorithm, [data]);
      checkEqual(hexOf(algorithm, randomChunks(data)), whole, `${algorithm} of ${length} bytes`);
      if (NATIVE_IN_NODE.indexOf(algorithm) >= 0) {
        const reference = host<string>("digest", { algorithm, hex: toHex(data) });
        checkEqual(whole, reference, `${algorithm} of ${length} bytes against Node`);
      }
      results.push(whole);
    }
    return results;
  };
}

const cases: Cases = {
  "published vectors"() {
    const results: string[] = [];
    for (const [algorithm, input, expected] of VECTORS) {
      const bytes = utf8Encode(input);
      checkEqual(hexOf(algorithm, [bytes]), expected, `${algorithm}("${input}")`);
      // The same bytes one at a time, for block splits at every offset.
      const single: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
      checkEqual(hexOf(algorithm, single), expected, `${algorithm}("${input}") byte by byte`);
      results.push(expected);
    }
    return results;
  },

  "SHA-256 of one million 'a'"() {
    const chunk = new Uint8Array(1000).fill(0x61);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) chunks.push(chunk);
    const hex = hexOf("sha256", chunks);
    checkEqual(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "sha256");
    return hex;
  },

  "matchDigest notations"() {
    const crc = createDigest("crc32");
    crc.update(utf8Encode("123456789"));
    const value = crc.digest();
    const notations = ["cbf43926", "CBF43926", "2639f4cb", "cbf43927"].map(
      (expected) => matchDigest("crc32", value, expected).notation ?? "no match",
    );
    checkEqual(notations.join(), "hex,hex,little-endian hex,no match", "crc32 notations");
    return notations;
  },
};

for (const algorithm of HASH_ALGORITHMS)
  cases[`random splits: ${algorithm}`] = randomSplits(algorithm);

export default cases;
