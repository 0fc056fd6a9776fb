import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import * as zlib from "node:zlib";
import fc from "fast-check";
import {
  crc32,
  createDigest,
  HASH_ALGORITHMS,
  matchDigest,
  Murmur3_128,
  Murmur3_32,
  Sha256,
} from "../../src/core/hash/index";
import type { Digest, HashAlgorithm } from "../../src/core/ports";
import { toHex } from "../../src/core/util/bytes";

// An independent JavaScript MurmurHash3 (matches the C++ reference) to cross-check random inputs.
const murmurReference = createRequire(import.meta.url)("murmurhash3js-revisited") as {
  x86: { hash32(bytes: Uint8Array, seed?: number): number };
  x64: { hash128(bytes: Uint8Array, seed?: number): string };
};

const ascii = (text: string) => new TextEncoder().encode(text);

function hashHex(algorithm: HashAlgorithm, data: Uint8Array): string {
  const digest = createDigest(algorithm);
  digest.update(data);
  return toHex(digest.digest());
}

function reverseHexBytes(hex: string): string {
  return (hex.match(/../g) ?? []).reverse().join("");
}

/** What the algorithm should give, from Node's crypto, zlib or the reference Murmur3. */
function referenceHex(algorithm: HashAlgorithm, data: Uint8Array): string {
  switch (algorithm) {
    case "md5":
    case "sha256":
    case "sha384":
    case "sha512":
      return createHash(algorithm).update(data).digest("hex");
    case "crc32":
      return (zlib.crc32(data) >>> 0).toString(16).padStart(8, "0");
    case "murmur3_32":
      return (murmurReference.x86.hash32(data) >>> 0).toString(16).padStart(8, "0");
    case "murmur3_128": {
      // The reference prints h1 and h2 as big-endian hex; Guava's bytes are each little-endian.
      const hex = murmurReference.x64.hash128(data);
      return reverseHexBytes(hex.slice(0, 16)) + reverseHexBytes(hex.slice(16));
    }
  }
}

describe("MD5", () => {
  it("gives the RFC 1321 test suite values", () => {
    const suite: [string, string][] = [
      ["", "d41d8cd98f00b204e9800998ecf8427e"],
      ["a", "0cc175b9c0f1b6a831c399e269772661"],
      ["abc", "900150983cd24fb0d6963f7d28e17f72"],
      ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
      ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
      [
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "d174ab98d277d9f5a5611c2c9f419d9f",
      ],
      ["1234567890".repeat(8), "57edf4a22be3c955ac49da2e2107b67a"],
    ];
    for (const [input, expected] of suite)
      assert.equal(hashHex("md5", ascii(input)), expected, input);
  });
});

describe("SHA-2", () => {
  const abc = ascii("abc");
  const msg448 = ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  const msg896 = ascii(
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
  );

  it("gives the FIPS 180 example values", () => {
    const cases: [HashAlgorithm, Uint8Array, string][] = [
      ["sha256", abc, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
      [
        "sha256",
        new Uint8Array(0),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      ],
      ["sha256", msg448, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"],
      [
        "sha384",
        abc,
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
      ],
      [
        "sha384",
        msg896,
        "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039",
      ],
      [
        "sha512",
        abc,
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
      ],
      [
        "sha512",
        msg896,
        "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
      ],
    ];
    for (const [algorithm, input, expected] of cases) {
      assert.equal(hashHex(algorithm, input), expected, `${algorithm} of ${input.length} bytes`);
    }
  });

  it("gives the FIPS 180 value for one million 'a' fed in uneven chunks", () => {
    const digest = new Sha256();
    const chunk = new Uint8Array(999).fill(0x61);
    let left = 1_000_000;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      digest.update(chunk.subarray(0, n));
      left -= n;
    }
    assert.equal(
      toHex(digest.digest()),
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    );
  });
});

describe("CRC32", () => {
  it("gives the check value and chains like zlib", () => {
    assert.equal(hashHex("crc32", ascii("123456789")), "cbf43926");
    assert.equal(crc32(ascii("123456789")), 0xcbf43926);
    assert.equal(crc32(ascii("456789"), crc32(ascii("123"))), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
  });

  it("matches Python zlib.crc32(x, 0xFFFFFFFF), as ESP-IDF otadata uses it", () => {
    // Values printed by Python: zlib.crc32(b"123456789", 0xFFFFFFFF) and
    // zlib.crc32(struct.pack("<I", 1), 0xFFFFFFFF) (otadata sequence number 1).
    assert.equal(crc32(ascii("123456789"), 0xffffffff), 0xd202d277);
    assert.equal(crc32(new Uint8Array([1, 0, 0, 0]), 0xffffffff), 0x4743989a);
  });
});

describe("Murmur3 as Guava computes it", () => {
  it("gives Guava's murmur3_32 values for UTF-8 and UTF-16LE bytes", () => {
    const cases: [string, number, number][] = [
      // [input, UTF-8 hash, UTF-16LE hash] from Guava's Murmur3Hash32Test.
      ["", 0, 0],
      ["k", 0xcfbda5d1, 0x288418e4],
      ["hell", 0xa167dbf3, 0x5a0cb7c3],
      ["hello", 0x248bfa47, 0xd7c31989],
      ["http://www.google.com/", 0x3d41b97c, 0x73564d8c],
      ["The quick brown fox jumps over the lazy dog", 0x2e4ff723, 0xe07db09c],
      ["ABCDefGHI\u0799", 0xb5a4be05, 0xfefa3e76],
      ["毎月１日,毎週月曜日", 0xfc5ba834, 0x6a7be132],
      ["surrogate pair: \uD83D\uDCB0", 0x8a5c3699, 0x5a2d41c7],
    ];
    const hex = (n: number) => n.toString(16).padStart(8, "0");
    for (const [input, utf8, utf16] of cases) {
      assert.equal(hashHex("murmur3_32", ascii(input)), hex(utf8), `UTF-8 ${input}`);
      const bytes = new Uint8Array(Buffer.from(input, "utf16le"));
      assert.equal(hashHex("murmur3_32", bytes), hex(utf16), `UTF-16LE ${input}`);
    }
  });

  it("gives Guava's murmur3_128 values, seeds included", () => {
    const cases: [number, string, string, string][] = [
      // [seed, h1, h2, input] from Guava's Murmur3Hash128Test.
      [0, "629942693e10f867", "92db0b82baeb5347", "hell"],
      [1, "a78ddff5adae8d10", "128900ef20900135", "hello"],
      [2, "8a486b23f422e826", "f962a2c58947765f", "hello "],
      [3, "2ea59f466f6bed8c", "c610990acc428a17", "hello w"],
      [4, "79f6305a386c572c", "46305aed3483b94e", "hello wo"],
      [5, "c2219d213ec1f1b5", "a1d8e2e0a52785bd", "hello wor"],
      [0, "e34bbc7bbc071b6c", "7a433ca9c49a9347", "The quick brown fox jumps over the lazy dog"],
      [0, "658ca970ff85269a", "43fee3eaa68e5c3e", "The quick brown fox jumps over the lazy cog"],
    ];
    for (const [seed, h1, h2, input] of cases) {
      const digest = new Murmur3_128(seed);
      digest.update(ascii(input));
      assert.equal(toHex(digest.digest()), reverseHexBytes(h1) + reverseHexBytes(h2), input);
    }
  });

  // Guava's HashTestUtils.verifyHashFunction, the SMHasher verification: hash keys {}, {0},
  // {0,1}, ... {0..254} with seed 256 - length, then hash the concatenated hashes with seed 0.
  function verification(hashBytes: (input: Uint8Array, seed: number) => Uint8Array, size: number) {
    const hashes = new Uint8Array(size * 256);
    const key = new Uint8Array(256);
    for (let i = 0; i < 256; i++) {
      key[i] = i;
      hashes.set(hashBytes(key.subarray(0, i), 256 - i), i * size);
    }
    const result = hashBytes(hashes, 0);
    return (result[0] | (result[1] << 8) | (result[2] << 16) | (result[3] << 24)) >>> 0;
  }

  function run(digest: Digest, input: Uint8Array): Uint8Array {
    digest.update(input);
    return digest.digest();
  }

  it("passes SMHasher's verification for x86_32 (0xB0F57EE3) and x64_128 (0x6384BA69)", () => {
    // Guava's asBytes() of a 32-bit hash is little-endian; our digest is big-endian.
    const murmur32 = (input: Uint8Array, seed: number) =>
      run(new Murmur3_32(seed), input).reverse();
    assert.equal(verification(murmur32, 4), 0xb0f57ee3);
    const murmur128 = (input: Uint8Array, seed: number) => run(new Murmur3_128(seed), input);
    assert.equal(verification(murmur128, 16), 0x6384ba69);
  });
});

describe("incremental hashing", () => {
  // zlib.crc32, the CRC32 reference, came with Node 20.15.
  const needsZlibCrc32 = {
    skip: typeof zlib.crc32 === "function" ? false : "zlib.crc32 needs Node 20.15 or later",
  };

  it(
    "equals the reference over random data cut into random chunks, 0-byte chunks included",
    needsZlibCrc32,
    () => {
      const input = fc.record({
        data: fc.uint8Array({ minLength: 0, maxLength: 3000 }),
        cuts: fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 12 }),
      });
      for (const algorithm of HASH_ALGORITHMS) {
        fc.assert(
          fc.property(input, ({ data, cuts }) => {
            const points = cuts.map((c) => c % (data.length + 1)).sort((a, b) => a - b);
            const digest = createDigest(algorithm);
            let at = 0;
            for (const point of [...points, data.length]) {
              digest.update(data.subarray(at, point));
              at = point;
            }
            assert.equal(toHex(digest.digest()), referenceHex(algorithm, data));
          }),
          { seed: 20240601, numRuns: 150 },
        );
      }
    },
  );

  it("equals the reference around every block boundary, byte by byte", needsZlibCrc32, () => {
    const data = new Uint8Array(300);
    for (let i = 0; i < data.length; i++) data[i] = (i * 167 + 13) & 255;
    for (const algorithm of HASH_ALGORITHMS) {
      for (let length = 0; length <= 260; length++) {
        const input = data.subarray(0, length);
        const whole = hashHex(algorithm, input);
        assert.equal(whole, referenceHex(algorithm, input), `${algorithm} of ${length} bytes`);
        const digest = createDigest(algorithm);
        for (let i = 0; i < length; i++) digest.update(input.subarray(i, i + 1));
        assert.equal(toHex(digest.digest()), whole, `${algorithm} of ${length} single bytes`);
      }
    }
  });

  it("refuses updates after the final value", () => {
    for (const algorithm of HASH_ALGORITHMS) {
      const digest = createDigest(algorithm);
      digest.update(ascii("abc"));
      digest.digest();
      assert.throws(() => digest.update(ascii("d")), /digest/, algorithm);
      assert.throws(() => digest.digest(), /digest/, algorithm);
    }
  });
});

describe("createDigest", () => {
  it("prefers the host's native digest and falls back to the portable one", () => {
    const asked: HashAlgorithm[] = [];
    const nativeMd5: Digest = {
      update() {},
      digest: () => new Uint8Array([1, 2, 3]),
    };
    const native = (algorithm: HashAlgorithm) => {
      asked.push(algorithm);
      return algorithm === "md5" ? nativeMd5 : undefined;
    };
    assert.equal(createDigest("md5", native), nativeMd5);
    const fallback = createDigest("sha256", native);
    assert.ok(fallback instanceof Sha256);
    assert.deepEqual(asked, ["md5", "sha256"]);
  });

  it("refuses an algorithm name it does not know", () => {
    assert.throws(
      () => createDigest("sha1" as HashAlgorithm),
      (error: unknown) => (error as { code?: string }).code === "offer-unsupported",
    );
  });
});

describe("matchDigest", () => {
  function digestOf(algorithm: HashAlgorithm, data: Uint8Array): Uint8Array {
    const digest = createDigest(algorithm);
    digest.update(data);
    return digest.digest();
  }

  it("accepts hex in either case for every algorithm", () => {
    for (const algorithm of HASH_ALGORITHMS) {
      const digest = digestOf(algorithm, ascii("123456789"));
      const hex = toHex(digest);
      assert.deepEqual(matchDigest(algorithm, digest, hex), { match: true, notation: "hex" });
      assert.deepEqual(matchDigest(algorithm, digest, hex.toUpperCase()), {
        match: true,
        notation: "hex",
      });
    }
  });

  it("accepts CRC32 as ThingsBoard writes it (Guava HashCode.fromInt, little-endian)", () => {
    const digest = digestOf("crc32", ascii("123456789"));
    assert.deepEqual(matchDigest("crc32", digest, "2639f4cb"), {
      match: true,
      notation: "little-endian hex",
    });
    assert.deepEqual(matchDigest("crc32", digest, "cbf43927"), { match: false });
  });

  it("accepts CRC32 and Murmur3_32 without leading zeros (Long.toHexString)", () => {
    for (const algorithm of ["crc32", "murmur3_32"] as const) {
      // The first of "0", "1", ... whose value starts with a zero nibble.
      let i = 0;
      while (digestOf(algorithm, ascii(String(i)))[0] >= 0x10) i++;
      const digest = digestOf(algorithm, ascii(String(i)));
      const short = toHex(digest).replace(/^0+/, "");
      assert.deepEqual(matchDigest(algorithm, digest, short), {
        match: true,
        notation: "hex without leading zeros",
      });
    }
  });

  it("accepts Murmur3_32 little-endian and Murmur3_128 as Guava's toString()", () => {
    const m32 = digestOf("murmur3_32", ascii("hello"));
    assert.deepEqual(matchDigest("murmur3_32", m32, "47fa8b24"), {
      match: true,
      notation: "little-endian hex",
    });
    const m128 = digestOf("murmur3_128", ascii("The quick brown fox jumps over the lazy dog"));
    assert.deepEqual(matchDigest("murmur3_128", m128, "6c1b07bc7bbc4be347939ac4a93c437a"), {
      match: true,
      notation: "hex",
    });
  });

  it("does not accept other byte orders for the cryptographic hashes", () => {
    const digest = digestOf("md5", ascii("abc"));
    const reversed = reverseHexBytes(toHex(digest));
    assert.deepEqual(matchDigest("md5", digest, reversed), { match: false });
    assert.deepEqual(matchDigest("md5", digest, toHex(digest).slice(1)), { match: false });
  });
});
