// The portable ECDSA P-256 verifier inside XS: signatures Node's crypto made once (the vectors
// below are data, made with crypto.sign("sha256", message, { dsaEncoding: "ieee-p1363" })), the
// same signatures altered, the key and signature encodings, and the streamed check.

import { Sha256 } from "../../../src/core/hash/index";
import { SignatureCheck } from "../../../src/core/signature/check";
import { trustedKey, trustedKeys } from "../../../src/core/signature/keys";
import {
  portableSignatureStream,
  publicKeyFromText,
  signatureFromDer,
} from "../../../src/core/signature/encoding";
import { verifyP256 } from "../../../src/core/signature/p256";
import { fromHex, toHex, utf8Encode } from "../../../src/core/util/bytes";
import { check, checkEqual, host, type Cases } from "../runtime";

export interface Vector {
  key: string;
  message: string;
  signature: string;
}

// Made so that vector 1 has an r with a leading zero byte, vector 2 an s with one, and vector 3
// both r and s with their high bit set. tools/bench/signature-workload.ts times vector 0.
export const VECTORS: Vector[] = [
  {
    key:
      "048f243a77bac5c4ff74c69eee58d75af4b3c8a81d1b2d8a98fa10394b9237e000" +
      "5ce247b1d1c668d371ca9d0f64c81660796ef27bcbf81b4cc4cb69fb0e222667",
    message: "otaflow signature vector 0: ",
    signature:
      "6fbb51c10b2050b957180013fef3bedbadfab2c383f33e577319287d4d82c524" +
      "261fae6b33808214027e2c4dc27638284d52f2c00d3c46b8d898199bf306647e",
  },
  {
    key:
      "049da23989ac02f12001c6a8accaec0d8d5c2e5129c1c8f7f153df9e8666690f59" +
      "b8f1eaecaa6e3a7fe8162485ccbc545ec21f2bc4a3c2643bf6ffe37343498e77",
    message: "otaflow signature vector 1: " + "firmware ".repeat(7),
    signature:
      "00163f9a627626667832ac80de935f52786e1c14de75a207f8a821fc587fbd28" +
      "3d9ec7039ee74f178ebfaeb743227c07ea57d4986edffa0a824f898730d7d2c2",
  },
  {
    key:
      "0424d6d1593b23f40384d1cee65aca780a4173b6bb85d0c0b30f7b94acd353054d" +
      "82063a67f75807399f2830e1031b60c96576fd89beccd4e5132404d34f581edb",
    message: "otaflow signature vector 2: " + "firmware ".repeat(14),
    signature:
      "66af51e177e98f5cde1ab4da678053abbb78e38bea044f8867a6849f9cfc6d20" +
      "00b15e070ab16dc65648e17d06a639e569b00f8beb571ea2752c416023f5360f",
  },
  {
    key:
      "0406caf4d18d1dc1d25ad6ee8d10dba2cb9354c71ca63bee8b0e2bd3c3cbfd32bc" +
      "1a4e2b2c9e08a178d63b2bdb774a9221f8e07a38d07b8b1a1a0284c099e3a5fc",
    message: "otaflow signature vector 3: " + "firmware ".repeat(21),
    signature:
      "a7ff443d35529342114b40a971fa9b9824ece0316bdc2818dab1bd9536e8261c" +
      "8f11fa66f6f7c3906d449d447d430be3c77142700fc7a5a25124b6e303ad84d7",
  },
];

/** Vector 0's key as Node exports it, and another signature of its message in DER. */
const PEM =
  "-----BEGIN PUBLIC KEY-----\n" +
  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjyQ6d7rFxP90xp7uWNda9LPIqB0b\n" +
  "LYqY+hA5S5I34ABc4kex0cZo03HKnQ9kyBZgeW7ye8v4G0zEy2n7DiImZw==\n" +
  "-----END PUBLIC KEY-----\n";
const DER =
  "3045022100a34073e80f6fba98dfdade2efc22123f7c79f35946b24eda06c94053088b9abc" +
  "022012c867f523941d65dba566e1e390acc8f881a0b1d1fff2091495c79f4ab57678";

const N = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

function bytes(hex: string): Uint8Array {
  const out = fromHex(hex);
  if (!out) throw new Error(`bad hex ${hex}`);
  return out;
}

function digestOf(message: string): Uint8Array {
  const sha = new Sha256();
  sha.update(utf8Encode(message));
  return sha.digest();
}

function flipBit(data: Uint8Array, bit: number): Uint8Array {
  const out = data.slice();
  out[bit >> 3] ^= 1 << (bit & 7);
  return out;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A file espsecure made (test/fixtures/espsecure), fetched from the host in small pieces. */
function fixture(name: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 2048) {
    const length = Math.min(2048, size - at);
    out.set(bytes(host<string>("fixture", { name, offset: at, length })), at);
  }
  return out;
}

/** The check's verdict on an image streamed in 1000-byte pieces, trusting `keys`. */
function verdictOn(image: Uint8Array, keys: string[]): string {
  const verifier = new SignatureCheck(image.length, undefined, trustedKeys(keys));
  for (let at = 0; at < image.length; at += 1000) verifier.update(image.subarray(at, at + 1000));
  try {
    const result = verifier.finish();
    return `${result.form} block ${result.block}, ${result.scheme}, key ${result.keyDigest}`;
  } catch (error) {
    return messageOf(error);
  }
}

/** espsecure's signed image, its corrupted copy, and the same under another key. */
function espsecureCase(signed: string, publicKey: string, otherKey: string): string[] {
  const key = host<string>("fixtureText", publicKey);
  const other = host<string>("fixtureText", otherKey);
  const verdicts = [
    verdictOn(fixture(`app-32k.${signed}.bin`, 36864), [key]),
    verdictOn(fixture(`app-32k.${signed}.corrupt-0x1000.bin`, 36864), [key]),
    verdictOn(fixture(`app-32k.${signed}.bin`, 36864), [other]),
  ];
  check(verdicts[0].indexOf("Secure Boot V2 block 0, ") === 0, verdicts[0]);
  check(verdicts[1].indexOf("signature digest: ") === 0, verdicts[1]);
  check(verdicts[2].indexOf("signature key: the image is signed with key ") === 0, verdicts[2]);
  return verdicts;
}

export default {
  "espsecure's keys have espsecure's Secure Boot V2 digests"() {
    return ["sbv2-key-a", "sbv2-key-b", "sbv2-rsa-key"].map((name) => {
      const digest = trustedKey(host<string>("fixtureText", `${name}.pub.pem`)).digest;
      checkEqual(
        digest,
        host<string>("fixture", { name: `${name}.digest.bin`, offset: 0, length: 32 }),
        name,
      );
      return digest;
    });
  },

  "espsecure's ECDSA P-256 sector verifies; corrupted or with another key it is refused"() {
    return espsecureCase("sbv2-a", "sbv2-key-a.pub.pem", "sbv2-key-b.pub.pem");
  },

  "espsecure's RSA-3072 sector verifies; corrupted or with another key it is refused"() {
    return espsecureCase("sbv2-rsa", "sbv2-rsa-key.pub.pem", "sbv2-key-a.pub.pem");
  },

  "Node's signatures verify"() {
    return VECTORS.map((vector, i) => {
      const valid = verifyP256(
        bytes(vector.key),
        digestOf(vector.message),
        bytes(vector.signature),
      );
      checkEqual(valid, true, `vector ${i}`);
      return valid;
    });
  },

  "altered signatures and digests do not verify"() {
    const results: boolean[] = [];
    VECTORS.forEach((vector, i) => {
      const key = bytes(vector.key);
      const digest = digestOf(vector.message);
      const signature = bytes(vector.signature);
      // Bits of r (low and high limbs) and of s, then of the digest.
      for (const bit of [0, 7, 130, 255, 256, 300, 511]) {
        const valid = verifyP256(key, digest, flipBit(signature, bit));
        checkEqual(valid, false, `vector ${i}, signature bit ${bit}`);
        results.push(valid);
      }
      for (const bit of [0, 100, 255]) {
        const valid = verifyP256(key, flipBit(digest, bit), signature);
        checkEqual(valid, false, `vector ${i}, digest bit ${bit}`);
        results.push(valid);
      }
      const other = bytes(VECTORS[(i + 1) % VECTORS.length].key);
      results.push(verifyP256(other, digest, signature));
      checkEqual(results[results.length - 1], false, `vector ${i} with another key`);
    });
    return results;
  },

  "r and s out of range do not verify"() {
    const vector = VECTORS[0];
    const key = bytes(vector.key);
    const digest = digestOf(vector.message);
    const r = vector.signature.slice(0, 64);
    const s = vector.signature.slice(64);
    const zero = "00".repeat(32);
    const results = [zero + s, r + zero, N + s, r + N, "ff".repeat(64), r].map((hex) =>
      verifyP256(key, digest, bytes(hex)),
    );
    checkEqual(results.join(), "false,false,false,false,false,false", "out-of-range results");
    return results;
  },

  "keys and signatures in their encodings"() {
    const vector = VECTORS[0];
    const point = publicKeyFromText(PEM);
    checkEqual(toHex(point), vector.key, "the PEM key's point");
    checkEqual(toHex(publicKeyFromText(vector.key.toUpperCase())), vector.key, "hex key");
    const signature = signatureFromDer(bytes(DER));
    check(verifyP256(point, digestOf(vector.message), signature), "the DER signature verifies");
    const offCurve = bytes(vector.key);
    offCurve[64] ^= 1;
    const refusals: string[] = [];
    for (const attempt of [
      () => publicKeyFromText(toHex(offCurve)),
      () => publicKeyFromText("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----"),
      () => signatureFromDer(bytes("3006020181020101")),
    ]) {
      try {
        attempt();
        refusals.push("accepted");
      } catch (error) {
        refusals.push(messageOf(error));
      }
    }
    checkEqual(refusals[0], "key: the point is not on the P-256 curve", "off-curve key");
    check(refusals[1].indexOf("key: truncated DER") === 0, refusals[1]);
    checkEqual(refusals[2], "signature format: r is negative", "negative r");
    return { signature: toHex(signature), refusals };
  },

  "the stream verifies the message fed in chunks"() {
    return VECTORS.map((vector, i) => {
      const data = utf8Encode(vector.message);
      const stream = portableSignatureStream(bytes(vector.key));
      for (let at = 0; at < data.length; at += 1 + ((i * 13) % 50))
        stream.update(data.subarray(at, at + 1 + ((i * 13) % 50)));
      const valid = stream.verify(bytes(vector.signature));
      checkEqual(valid, true, `vector ${i} streamed`);
      return valid;
    });
  },
} satisfies Cases;
