import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import type { OtaError } from "../../src/core/errors";
import {
  EspImageVerifier,
  IMAGE_PREFIX_SIZE,
  checkImageHeader,
  parseImageHeader,
} from "../../src/core/image/esp-image";
import { buildAppImage } from "../../tools/image/build";
import { createDigest } from "../../src/core/hash";
import { espIdfVerify } from "../support/images";

/** The core's own SHA-256; the ESP-IDF oracle in support/images uses Node's. */
const sha256 = () => createDigest("sha256");

const image = buildAppImage({ version: "1.4.2", project: "meter", secureVersion: 3, size: 20000 });
const layout = espIdfVerify(image);

function otaFailure(code: string, message: RegExp) {
  return (error: unknown) => {
    assert.equal((error as OtaError).code, code);
    assert.match((error as Error).message, message);
    return true;
  };
}

/** Deterministic chunk sizes between 1 and `max`. */
function split(bytes: Uint8Array, max: number, seed: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let s = seed;
  for (let at = 0; at < bytes.length;) {
    s = (s * 1103515245 + 12345) >>> 0;
    const n = 1 + (s % max);
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

function verify(bytes: Uint8Array, chunkMax = 4096, seed = 1) {
  const verifier = new EspImageVerifier(sha256);
  for (const chunk of split(bytes, chunkMax, seed)) verifier.update(chunk);
  return verifier.finish(bytes.length);
}

function corrupt(offset: number, xor = 0x01): Uint8Array {
  const copy = image.slice();
  copy[offset] ^= xor;
  return copy;
}

describe("parseImageHeader", () => {
  it("reads the header and the app descriptor", () => {
    const header = parseImageHeader(image.subarray(0, IMAGE_PREFIX_SIZE));
    assert.equal(header.chipId, 0);
    assert.equal(header.segmentCount, layout.segments.length);
    assert.equal(header.hashAppended, true);
    assert.equal(header.secureVersion, 3);
    assert.equal(header.version, "1.4.2");
    assert.equal(header.project, "meter");
    assert.equal(header.firstSegment.length, layout.segments[0].length);
    assert.equal(header.firstSegment.loadAddr, layout.segments[0].loadAddr);
    assert.match(header.elfSha256, /^[0-9a-f]{64}$/);
  });

  it("names what makes an image not an app image", () => {
    const cases: [Uint8Array, RegExp][] = [
      [image.subarray(0, 100), /only 100 bytes/],
      [corrupt(0, 0xe9 ^ 0x7f), /^not an ESP32 app image: first byte 0x7F is not 0xE9$/],
      [corrupt(1, image[1] ^ 20), /^segment count 20 > 16$/],
      [corrupt(1, image[1]), /segment count 0/],
      [corrupt(24 + 5, 0x01), /first segment is \d+ bytes/],
      [corrupt(33, 0xff), /app descriptor magic 0xABCDAB32 at offset 32/],
    ];
    for (const [bytes, message] of cases)
      assert.throws(
        () => parseImageHeader(bytes.subarray(0, IMAGE_PREFIX_SIZE)),
        otaFailure("image-invalid", message),
      );
  });
});

describe("checkImageHeader", () => {
  const header = parseImageHeader(image);

  it("accepts an image that matches", () => {
    checkImageHeader(header, {
      chipId: 0,
      version: "1.4.2",
      project: "meter",
      minSecureVersion: 3,
    });
    checkImageHeader(header, {});
  });

  it("lists every difference", () => {
    assert.throws(
      () => checkImageHeader(header, { chipId: 5 }),
      otaFailure("image-mismatch", /chip id 0x0 \(ESP32\), this device is 0x5 \(ESP32-C3\)/),
    );
    assert.throws(
      () => checkImageHeader(header, { version: "1.5.0" }),
      otaFailure("image-mismatch", /image version "1.4.2", the offer says "1.5.0"/),
    );
    assert.throws(
      () => checkImageHeader(header, { project: "lamp" }),
      otaFailure("image-mismatch", /project "meter", this device runs "lamp"/),
    );
    assert.throws(
      () => checkImageHeader(header, { minSecureVersion: 4 }),
      otaFailure("image-mismatch", /secure_version 3 is below the device's 4/),
    );
    assert.throws(
      () => checkImageHeader(header, { version: "2", project: "lamp" }),
      otaFailure("image-mismatch", /version .*; .*project/),
    );
  });
});

describe("EspImageVerifier", () => {
  it("accepts a valid image fed in chunks of any size", () => {
    const prefixHash = createHash("sha256")
      .update(image.subarray(0, layout.checksumOffset + 1))
      .digest();
    for (const [max, seed] of [
      [1, 1],
      [7, 2],
      [64, 3],
      [4096, 4],
      [image.length, 5],
    ]) {
      const result = verify(image, max, seed);
      assert.equal(result.imageLength, image.length);
      assert.equal(result.checksum, image[layout.checksumOffset]);
      assert.deepEqual(Buffer.from(result.sha256!), prefixHash);
    }
  });

  it("accepts images of every layout the tool makes", () => {
    for (const size of [384, 1040, 70000, 5 * 1024 * 1024]) {
      const other = buildAppImage({ version: "2", size });
      assert.equal(verify(other, 65536).imageLength, size);
    }
  });

  it("knows the image length once the segments are walked and ignores what follows", () => {
    const padded = new Uint8Array(image.length + 4096).fill(0xff);
    padded.set(image);
    const verifier = new EspImageVerifier(sha256);
    verifier.update(padded.subarray(0, layout.checksumOffset - 16));
    assert.equal(verifier.imageLength, image.length);
    assert.equal(verifier.complete, false);
    verifier.update(padded.subarray(layout.checksumOffset - 16, image.length));
    assert.equal(verifier.complete, true);
    verifier.update(padded.subarray(image.length));
    assert.equal(verifier.finish(padded.length).imageLength, image.length);
  });

  it("checks the checksum byte of an image without an appended hash", () => {
    const plain = image.slice(0, layout.checksumOffset + 1);
    plain[23] = 0;
    const result = verify(plain);
    assert.equal(result.imageLength, plain.length);
    assert.equal(result.sha256, undefined);
    plain[layout.segments[1].dataOffset] ^= 0x40;
    assert.throws(() => verify(plain), otaFailure("image-invalid", /checksum byte/));
  });

  it("reports a corrupted segment byte as a checksum mismatch", () => {
    const at = layout.segments[2].dataOffset + 5;
    const expected = image[layout.checksumOffset] ^ 0x10;
    assert.throws(
      () => verify(corrupt(at, 0x10)),
      otaFailure(
        "image-invalid",
        new RegExp(
          `^checksum byte at offset ${layout.checksumOffset} is 0x[0-9A-F]{2} but the segment data XOR to 0x${expected.toString(16).toUpperCase().padStart(2, "0")}$`,
        ),
      ),
    );
  });

  it("reports a corrupted checksum byte", () => {
    assert.throws(
      () => verify(corrupt(layout.checksumOffset)),
      otaFailure("image-invalid", /checksum byte at offset/),
    );
  });

  it("reports corruption outside the segment data through the appended hash", () => {
    const hashAt = layout.checksumOffset + 1;
    for (const at of [2, 12 + 0, layout.checksumOffset - 1, hashAt, image.length - 1]) {
      assert.throws(
        () => verify(corrupt(at)),
        otaFailure(
          "image-invalid",
          new RegExp(`^appended SHA-256 at offset ${hashAt} is [0-9a-f]{64} but`),
        ),
        `byte ${at}`,
      );
    }
  });

  it("throws as soon as the structure is wrong", () => {
    const cases: [Uint8Array, RegExp][] = [
      [corrupt(0), /first byte 0xE8 is not 0xE9/],
      [corrupt(1, image[1] ^ 17), /segment count 17/],
      [
        corrupt(layout.segments[1].dataOffset - 4, 0x02),
        /segment 1 at offset \d+ has invalid length/,
      ],
      [corrupt(layout.segments[2].dataOffset - 1, 0x01), /segment 2 .* invalid length 0x1/],
    ];
    for (const [bytes, message] of cases) {
      const verifier = new EspImageVerifier(sha256);
      assert.throws(
        () => verifier.update(bytes.subarray(0, layout.segments[2].dataOffset)),
        otaFailure("image-invalid", message),
      );
    }
  });

  it("reports where a truncated image ends", () => {
    const cases: [number, RegExp][] = [
      [10, /after 10 bytes, inside its 24-byte header/],
      [layout.segments[2].dataOffset + 3, /inside segment 2 of \d+ \(which starts at offset \d+\)/],
      [layout.checksumOffset, /before its checksum byte/],
      [image.length - 1, /inside its appended SHA-256/],
    ];
    for (const [length, message] of cases)
      assert.throws(() => verify(image.subarray(0, length)), otaFailure("image-invalid", message));
  });

  it("finds every single-byte corruption that ESP-IDF's bootloader finds", () => {
    let s = 7;
    for (let n = 0; n < 200; n++) {
      s = (s * 1103515245 + 12345) >>> 0;
      const bytes = corrupt(s % image.length, 1 + (s >>> 24));
      assert.throws(() => espIdfVerify(bytes));
      assert.throws(
        () => verify(bytes, 997, n),
        (e: unknown) => (e as OtaError).code === "image-invalid",
      );
    }
  });

  it("refuses to judge a size other than what it was fed", () => {
    const verifier = new EspImageVerifier(sha256);
    verifier.update(image);
    assert.throws(
      () => verifier.finish(image.length + 1),
      otaFailure("internal", /fed 20000 bytes/),
    );
  });
});
