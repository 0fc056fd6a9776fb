// The core's signature check against what Espressif's espsecure signed (test/fixtures/espsecure):
// images streamed in random chunks, accepted with the right key, refused with the reason espsecure
// gives for the corrupted ones, and with both digests named for a wrong key; then sectors edited
// here (their CRC made right again) for key rotation and revocation, forgery and format errors.
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { crc32 } from "../../src/core/hash/crc32";
import { SignatureCheck, type SignatureResult } from "../../src/core/signature/check";
import { sbv2Digest, trustedKey, trustedKeys } from "../../src/core/signature/keys";
import { rsaMontgomeryConstants, verifyRsaPss } from "../../src/core/signature/rsa";
import { publicKeyOfPem } from "../../src/core/signature/encoding";
import { nodeSignatures } from "../../hosts/node/signatures";
import { generateSigningKey, loadSigningKey, signAppended } from "../../tools/sign/index";

const VECTORS = path.join(import.meta.dirname, "..", "fixtures", "espsecure");
const read = (name: string) => new Uint8Array(fs.readFileSync(path.join(VECTORS, name)));
const text = (name: string) => fs.readFileSync(path.join(VECTORS, name), "utf8");
const hex = (name: string) => Buffer.from(read(name)).toString("hex");

const KEY_A = text("sbv2-key-a.pub.pem");
const KEY_B = text("sbv2-key-b.pub.pem");
const KEY_RSA = text("sbv2-rsa-key.pub.pem");
const KEY_V1 = "04" + hex("sbv1-key.pub.raw");
const DIGEST_A = hex("sbv2-key-a.digest.bin");
const DIGEST_B = hex("sbv2-key-b.digest.bin");
const DIGEST_RSA = hex("sbv2-rsa-key.digest.bin");

/** Streams `image` through a check in random chunks, as a download would; the verdict. */
function check(image: Uint8Array, keys: string[], native = false): SignatureResult {
  const verifier = new SignatureCheck(
    image.length,
    undefined,
    trustedKeys(keys),
    undefined,
    native ? nodeSignatures : undefined,
  );
  for (let at = 0; at < image.length;) {
    const length = 1 + crypto.randomInt(5000);
    verifier.update(image.subarray(at, at + length));
    at += length;
  }
  return verifier.finish();
}

function refusal(image: Uint8Array, keys: string[]): string {
  try {
    check(image, keys);
  } catch (error) {
    assert.equal((error as { code: string }).code, "signature-invalid");
    return (error as Error).message;
  }
  assert.fail("the check accepted the image");
}

/** The sector's block `index` with `edit` applied and its CRC made right again. */
function editBlock(
  signed: Uint8Array,
  index: number,
  edit: (block: Uint8Array) => void,
): Uint8Array {
  const copy = signed.slice();
  const block = copy.subarray(
    copy.length - 4096 + index * 1216,
    copy.length - 4096 + (index + 1) * 1216,
  );
  edit(block);
  new DataView(block.buffer, block.byteOffset).setUint32(
    1196,
    crc32(block.subarray(0, 1196)),
    true,
  );
  return copy;
}

describe("keys by their Secure Boot V2 digest", () => {
  it("computes espsecure's digests from PEM public keys, ECDSA and RSA", () => {
    assert.equal(trustedKey(KEY_A).digest, DIGEST_A);
    assert.equal(trustedKey(KEY_B).digest, DIGEST_B);
    assert.equal(trustedKey(KEY_RSA).digest, DIGEST_RSA);
    assert.ok(trustedKey(KEY_A).point, "an ECDSA key keeps its point");
    assert.equal(trustedKey(KEY_RSA).point, undefined);
  });

  it("takes a digest as 64 hex digits, and an RSA key as PKCS#1 too", () => {
    assert.deepEqual(trustedKey(DIGEST_RSA.toUpperCase()), { digest: DIGEST_RSA });
    const pkcs1 = crypto
      .createPublicKey(KEY_RSA)
      .export({ type: "pkcs1", format: "pem" }) as string;
    assert.match(pkcs1, /BEGIN RSA PUBLIC KEY/);
    assert.equal(trustedKey(pkcs1).digest, DIGEST_RSA);
  });

  it("computes R^2 mod n and -n^-1 mod 2^32 as espsecure stored them", () => {
    const block = read("app-32k.sbv2-rsa.bin").subarray(32768);
    const constants = rsaMontgomeryConstants(block.subarray(36, 420));
    assert.deepEqual(Buffer.from(constants.rr), Buffer.from(block.subarray(424, 808)));
    assert.equal(constants.factor, Buffer.from(block).readUInt32LE(808));
  });

  it("refuses RSA keys of other sizes and text that is no key, saying why", () => {
    const rsa2048 = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    const pem = rsa2048.export({ type: "spki", format: "pem" }) as string;
    assert.throws(
      () => trustedKey(pem),
      /key: an RSA-2048 key: Secure Boot V2 signs with RSA-3072/,
    );
    assert.throws(
      () => trustedKey("not a key"),
      /the 64 hex digits of a Secure Boot V2 key digest/,
    );
    // Other hex is read as a point, and refused as one.
    assert.throws(
      () => trustedKey("12ab"),
      /the 65-byte uncompressed point 04 \|\| X \|\| Y, got 2 bytes/,
    );
    assert.throws(() => trustedKey("zz".repeat(32)), /is not hex/);
  });
});

describe("espsecure's signed images", () => {
  it("accepts the ECDSA and RSA sectors and the V1 trailer with the right key", () => {
    for (const native of [false, true]) {
      assert.deepEqual(check(read("app-32k.sbv2-a.bin"), [KEY_A], native), {
        form: "Secure Boot V2",
        scheme: "ECDSA P-256",
        keyDigest: DIGEST_A,
        block: 0,
      });
      assert.deepEqual(check(read("app-32k.sbv2-a.bin"), [DIGEST_A], native).keyDigest, DIGEST_A);
      assert.deepEqual(check(read("app-32k.sbv2-rsa.bin"), [KEY_RSA], native), {
        form: "Secure Boot V2",
        scheme: "RSA-3072",
        keyDigest: DIGEST_RSA,
        block: 0,
      });
      const v1 = check(read("app-32k.sbv1.bin"), [KEY_A, KEY_V1], native);
      assert.equal(v1.form, "V1 trailer");
      assert.equal(v1.keyDigest, trustedKey(KEY_V1).digest);
    }
  });

  it("refuses the corrupted copies: a changed image for V2, a signature that fails for V1", () => {
    assert.match(
      refusal(read("app-32k.sbv2-a.corrupt-0x1000.bin"), [KEY_A]),
      new RegExp(
        `^signature digest: .* but signature block 0 \\(key ${DIGEST_A}\\) was made over .*the image changed after it was signed$`,
      ),
    );
    assert.match(
      refusal(read("app-32k.sbv2-rsa.corrupt-0x1000.bin"), [KEY_RSA]),
      /^signature digest: .*the image changed after it was signed$/,
    );
    assert.match(
      refusal(read("app-32k.sbv1.corrupt-0x1000.bin"), [KEY_V1]),
      /^signature: the V1 signature does not verify over the image/,
    );
  });

  it("refuses a wrong key, naming the image's key digests and the trusted ones", () => {
    assert.equal(
      refusal(read("app-32k.sbv2-a.bin"), [KEY_B, KEY_RSA]),
      `signature key: the image is signed with key ${DIGEST_A} (block 0, ECDSA P-256); this device trusts ${DIGEST_B}, ${DIGEST_RSA}`,
    );
    assert.equal(
      refusal(read("app-32k.sbv2-rsa.bin"), [DIGEST_A]),
      `signature key: the image is signed with key ${DIGEST_RSA} (block 0, RSA-3072); this device trusts ${DIGEST_A}`,
    );
    assert.match(
      refusal(read("app-32k.sbv1.bin"), [DIGEST_A]),
      /names no key, and no trusted key \(b749ab06\w+\) is given as an ECDSA P-256 public key/,
    );
  });

  it("refuses an unsigned image as having no signature", () => {
    assert.match(
      refusal(read("app-32k.bin"), [KEY_A]),
      /^signature format: the image does not end with a Secure Boot V2 signature sector .*start [0-9a-f]{8}, not the magic byte e7/,
    );
    const odd = read("app-32k.bin").subarray(0, 32768 - 16);
    assert.match(refusal(odd, [KEY_A]), /^signature format: the image ends with neither/);
  });
});

describe("sectors with several blocks, and damaged ones", () => {
  const rsaPem = fs.readFileSync(path.join(VECTORS, "sbv2-rsa-key.pem"), "utf8");
  const aPem = fs.readFileSync(path.join(VECTORS, "sbv2-key-a.pem"), "utf8");
  const next = generateSigningKey();
  const image = read("app-32k.bin");
  const rotated = signAppended(image, [
    loadSigningKey(aPem),
    loadSigningKey(next.privateKeyPem),
    loadSigningKey(rsaPem),
  ]);

  it("rotation: a device trusting any one of the three keys accepts, naming the block", () => {
    assert.equal(check(rotated, [KEY_A]).block, 0);
    assert.equal(check(rotated, [next.publicKeyPem]).block, 1);
    assert.equal(check(rotated, [DIGEST_RSA]).block, 2);
    assert.equal(check(rotated, [DIGEST_B, DIGEST_RSA]).keyDigest, DIGEST_RSA);
  });

  it("revocation: a key no longer trusted does not count, and the refusal names all three", () => {
    assert.equal(
      refusal(rotated, [DIGEST_B]),
      `signature key: the image is signed with key ${DIGEST_A} (block 0, ECDSA P-256), ` +
        `${next.digestHex} (block 1, ECDSA P-256), ${DIGEST_RSA} (block 2, RSA-3072); ` +
        `this device trusts ${DIGEST_B}`,
    );
  });

  it("a forged signature in a trusted block is refused as forged; another block still verifies", () => {
    const forgedRsa = editBlock(rotated, 2, (block) => (block[900] ^= 1));
    assert.match(
      refusal(forgedRsa, [DIGEST_RSA]),
      new RegExp(
        `^signature: block 2 names trusted key ${DIGEST_RSA} and the right digest, but its RSA-3072 signature does not verify: it is forged or corrupt$`,
      ),
    );
    assert.equal(check(forgedRsa, [DIGEST_RSA, KEY_A]).block, 0);
    const forgedEcdsa = editBlock(read("app-32k.sbv2-a.bin"), 0, (block) => (block[120] ^= 1));
    assert.match(
      refusal(forgedEcdsa, [KEY_A]),
      /^signature: block 0 .* ECDSA P-256 signature does not verify/,
    );
    assert.match(
      refusal(forgedEcdsa, [DIGEST_A]),
      /^signature: block 0 .* ECDSA P-256 signature does not verify/,
    );
  });

  it("a block with a bad CRC, an unknown version or another curve is a format error", () => {
    const crc = read("app-32k.sbv2-a.bin");
    crc[32768 + 1196] ^= 1;
    assert.match(
      refusal(crc, [KEY_A]),
      /^signature format: signature block 0 has CRC-32 .*the sector is corrupt/,
    );
    const version = editBlock(read("app-32k.sbv2-a.bin"), 0, (block) => (block[1] = 1));
    assert.match(
      refusal(version, [KEY_A]),
      /^signature format: signature block 0 has version 1; Secure Boot V2 blocks are 2 \(RSA-3072\) or 3 \(ECDSA\)/,
    );
    const curve = editBlock(read("app-32k.sbv2-a.bin"), 0, (block) => (block[36] = 1));
    assert.match(
      refusal(curve, [KEY_A]),
      /^signature format: signature block 0 is ECDSA on curve id 1; this agent verifies P-256/,
    );
  });

  it("RSA-PSS refuses what is not a PSS encoding of the digest", () => {
    const block = read("app-32k.sbv2-rsa.bin").subarray(32768);
    const key = {
      modulus: block.subarray(36, 420),
      exponent: 65537,
      rr: block.subarray(424, 808),
      factor: Buffer.from(block).readUInt32LE(808),
    };
    const digest = crypto.createHash("sha256").update(read("app-32k.bin")).digest();
    assert.ok(verifyRsaPss(key, digest, block.subarray(812, 1196)));
    const wrong = Uint8Array.from(digest);
    wrong[31] ^= 0x80;
    assert.equal(verifyRsaPss(key, wrong, block.subarray(812, 1196)), false);
    // s = n is out of range; s = 1 gives em = 1, no 0xbc trailer.
    assert.equal(verifyRsaPss(key, digest, block.subarray(36, 420)), false);
    const one = new Uint8Array(384);
    one[0] = 1;
    assert.equal(verifyRsaPss(key, digest, one), false);
  });

  it("agrees with Node's crypto on RSA-PSS over random keys", () => {
    for (let i = 0; i < 3; i++) {
      const generated = generateSigningKey("rsa3072");
      const signed = signAppended(image, loadSigningKey(generated.privateKeyPem));
      assert.equal(check(signed, [generated.publicKeyPem]).scheme, "RSA-3072");
      assert.equal(sbv2Digest(publicKeyOfPem(generated.publicKeyPem)!), generated.digestHex);
    }
  });
});
