// The portable ECDSA P-256 verifier and the key and signature encodings, against Node's crypto
// (OpenSSL), openssl-made certificates and the Wycheproof test vectors.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  createECDH,
  createHash,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { nodeDigests } from "../../hosts/node/digests";
import { nodeSignatures } from "../../hosts/node/signatures";
import {
  portableSignatureStream,
  publicKeyFromText,
  signatureFromDer,
} from "../../src/core/signature/encoding";
import { checkPublicKey, gMultiples, verifyP256 } from "../../src/core/signature/p256";
import { fromHex, toHex } from "../../src/core/util/bytes";

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function hex32(value: bigint): string {
  return value.toString(16).padStart(64, "0");
}

function bytes(hex: string): Uint8Array {
  const out = fromHex(hex);
  assert.ok(out, `bad hex ${hex}`);
  return out;
}

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}

interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
  point: Uint8Array;
}

function pointOf(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: "jwk" });
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([4]),
      Buffer.from(jwk.x!, "base64url"),
      Buffer.from(jwk.y!, "base64url"),
    ]),
  );
}

function newKey(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { publicKey, privateKey, point: pointOf(publicKey) };
}

function signP1363(data: Uint8Array, key: KeyPair): Uint8Array {
  return new Uint8Array(sign("sha256", data, { key: key.privateKey, dsaEncoding: "ieee-p1363" }));
}

function flipBit(data: Uint8Array, bit: number): Uint8Array {
  const out = data.slice();
  out[(bit >> 3) % out.length] ^= 1 << (bit & 7);
  return out;
}

/** The same x with y replaced by p - y: on the curve, a different key. */
function negated(point: Uint8Array): Uint8Array {
  const y = BigInt("0x" + toHex(point.subarray(33)));
  const out = point.slice();
  out.set(bytes(hex32(P - y)), 33);
  return out;
}

const keyError = (pattern: RegExp) => (error: unknown) => {
  assert.equal((error as { code?: string }).code, "signature-invalid");
  assert.match((error as Error).message, /^key: /);
  assert.match((error as Error).message, pattern);
  return true;
};

const formatError = (pattern: RegExp) => (error: unknown) => {
  assert.equal((error as { code?: string }).code, "signature-invalid");
  assert.match((error as Error).message, /^signature format: /);
  assert.match((error as Error).message, pattern);
  return true;
};

const KEYS = Array.from({ length: 12 }, newKey);

describe("verifyP256", () => {
  it("accepts Node's signatures over random keys and messages, and refuses any altered part", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: KEYS.length - 1 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(511),
        fc.nat(255),
        (index, message, signatureBit, digestBit) => {
          const key = KEYS[index];
          const digest = sha256(message);
          const signature = signP1363(message, key);
          const context = `key ${toHex(key.point)} digest ${toHex(digest)} sig ${toHex(signature)}`;
          assert.equal(verifyP256(key.point, digest, signature), true, context);
          // signatureBit covers r (bits 0-255) and s (256-511).
          const altered = flipBit(signature, signatureBit);
          assert.equal(
            verifyP256(key.point, digest, altered),
            false,
            `bit ${signatureBit}: ${context}`,
          );
          assert.equal(
            verifyP256(key.point, flipBit(digest, digestBit), signature),
            false,
            context,
          );
          assert.equal(verifyP256(negated(key.point), digest, signature), false, context);
          const other = KEYS[(index + 1) % KEYS.length].point;
          assert.equal(verifyP256(other, digest, signature), false, context);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("refuses a key with a flipped bit: as not a key, or as the wrong one", () => {
    const key = KEYS[0];
    const digest = sha256(new Uint8Array([1, 2, 3]));
    const signature = signP1363(new Uint8Array([1, 2, 3]), key);
    let refusedAsKey = 0;
    for (let bit = 8; bit < 65 * 8; bit += 7) {
      const altered = flipBit(key.point, bit);
      try {
        assert.equal(verifyP256(altered, digest, signature), false, `bit ${bit}`);
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        keyError(/not on the P-256 curve|not below the P-256 field prime/)(error);
        refusedAsKey++;
      }
    }
    assert.ok(refusedAsKey > 0);
  });

  it("refuses r or s of 0, n or above, and signatures of the wrong length, without throwing", () => {
    const key = KEYS[1];
    const message = new Uint8Array([9, 9, 9]);
    const digest = sha256(message);
    const good = toHex(signP1363(message, key));
    const r = good.slice(0, 64);
    const s = good.slice(64);
    for (const [rHex, sHex] of [
      [hex32(0n), s],
      [r, hex32(0n)],
      [hex32(N), s],
      [r, hex32(N)],
      ["ff".repeat(32), s],
      [r, "ff".repeat(32)],
      [hex32(0n), hex32(0n)],
    ]) {
      assert.equal(verifyP256(key.point, digest, bytes(rHex + sHex)), false, `${rHex} ${sHex}`);
    }
    for (const length of [0, 32, 63, 65, 72])
      assert.equal(verifyP256(key.point, digest, new Uint8Array(length)), false);
  });

  it("accepts r and s with leading zero bytes and with their high bit set", () => {
    const key = KEYS[2];
    const wanted: Record<string, (signature: Uint8Array) => boolean> = {
      "r with a leading zero byte": (sig) => sig[0] === 0,
      "s with a leading zero byte": (sig) => sig[32] === 0,
      "r with its high bit set": (sig) => sig[0] >= 0x80,
      "s with its high bit set": (sig) => sig[32] >= 0x80,
    };
    const found = new Set<string>();
    for (let i = 0; i < 20000 && found.size < Object.keys(wanted).length; i++) {
      const message = randomBytes(16);
      // Node writes DER by default: the short and 0x00-prefixed INTEGERs come through the decoder.
      const der = new Uint8Array(sign("sha256", message, key.privateKey));
      const signature = signatureFromDer(der);
      for (const [name, matches] of Object.entries(wanted)) {
        if (found.has(name) || !matches(signature)) continue;
        found.add(name);
        const context = `${name}: DER ${toHex(der)}`;
        assert.equal(verifyP256(key.point, sha256(message), signature), true, context);
        const nodeSays = verify(
          "sha256",
          message,
          { key: key.publicKey, dsaEncoding: "ieee-p1363" },
          signature,
        );
        assert.equal(nodeSays, true, context);
      }
    }
    assert.deepEqual([...found].sort(), Object.keys(wanted).sort());
  });

  it("gives the Wycheproof results for P1363 signatures, edge cases of the arithmetic included", () => {
    const { keys, tests } = wycheproof.p1363;
    assert.equal(tests.length, 262);
    for (const line of tests) {
      const test = parseVector(line);
      const actual = verifyP256(bytes(keys[test.key]), sha256(test.message), test.signature);
      assert.equal(actual, test.valid, `tcId ${test.id}: ${test.comment}`);
    }
  });

  it("adds a point to itself when u1 G and u2 Q meet: key G and u1 = u2", () => {
    // With private key 1 and digest e = r, s = 2r/k gives u1 = u2 = k/2: both scalars have the
    // same top digit, so the first two additions add the same point.
    const inverse = (a: bigint) => {
      let [x, y, g, h] = [1n, 0n, a % N, N];
      while (h !== 0n) {
        const q = g / h;
        [g, h, x, y] = [h, g - q * h, y, x - q * y];
      }
      return ((x % N) + N) % N;
    };
    const generator = bytes("04" + gMultiples()[0]);
    for (let k = 2n; k < 40n; k += 3n) {
      const ecdh = createECDH("prime256v1");
      ecdh.setPrivateKey(Buffer.from(hex32(k), "hex"));
      const r = BigInt("0x" + ecdh.getPublicKey("hex").slice(2, 66)) % N;
      const s = (2n * r * inverse(k)) % N;
      const signature = bytes(hex32(r) + hex32(s));
      assert.equal(verifyP256(generator, bytes(hex32(r)), signature), true, `k = ${k}`);
      assert.equal(verifyP256(generator, bytes(hex32(r + 1n)), signature), false, `k = ${k}`);
    }
  });

  it("has a table of the odd multiples of G that Node's ECDH agrees with", () => {
    assert.equal(gMultiples().length, 16);
    gMultiples().forEach((multiple, i) => {
      const ecdh = createECDH("prime256v1");
      ecdh.setPrivateKey(Buffer.from(hex32(BigInt(2 * i + 1)), "hex"));
      assert.equal("04" + multiple, ecdh.getPublicKey("hex"), `${2 * i + 1}G`);
    });
  });
});

interface Vector {
  id: number;
  key: number;
  message: Uint8Array;
  signature: Uint8Array;
  valid: boolean;
  comment: string;
}

const wycheproof = JSON.parse(
  fs.readFileSync(path.join(import.meta.dirname, "fixtures", "wycheproof-ecdsa-p256.json"), "utf8"),
) as Record<"p1363" | "der", { keys: string[]; tests: string[] }>;

function parseVector(line: string): Vector {
  const [id, key, message, signature, result, ...comment] = line.split(" ");
  return {
    id: Number(id),
    key: Number(key),
    message: message === "-" ? new Uint8Array(0) : bytes(message),
    signature: signature === "-" ? new Uint8Array(0) : bytes(signature),
    valid: result === "valid",
    comment: comment.join(" "),
  };
}

describe("signatureFromDer", () => {
  it("gives the Wycheproof results for DER encodings: strict DER only", () => {
    const { keys, tests } = wycheproof.der;
    let refused = 0;
    for (const line of tests) {
      const test = parseVector(line);
      let signature: Uint8Array;
      try {
        signature = signatureFromDer(test.signature);
      } catch (error) {
        assert.equal(test.valid, false, `tcId ${test.id} (${test.comment}) refused: ${error}`);
        formatError(/./)(error);
        refused++;
        continue;
      }
      const actual = verifyP256(bytes(keys[test.key]), sha256(test.message), signature);
      assert.equal(actual, test.valid, `tcId ${test.id}: ${test.comment}`);
    }
    assert.ok(refused > 150, `${refused} encodings refused`);
  });

  it("converts Node's DER signatures into what Node verifies as IEEE P1363", () => {
    const key = KEYS[3];
    for (let i = 0; i < 50; i++) {
      const message = randomBytes(i);
      const der = new Uint8Array(sign("sha256", message, key.privateKey));
      const signature = signatureFromDer(der);
      assert.equal(signature.length, 64);
      const options = { key: key.publicKey, dsaEncoding: "ieee-p1363" } as const;
      assert.equal(verify("sha256", message, options, signature), true, toHex(der));
    }
  });

  it("takes 64 bytes that are not DER as r || s", () => {
    const raw = signP1363(new Uint8Array([5]), KEYS[4]);
    assert.deepEqual(signatureFromDer(raw), raw);
  });

  it("says what is wrong with a signature that is neither DER nor 64 bytes", () => {
    /** A DER element with a short-form length. */
    const tlv = (tag: string, content: string) =>
      tag + (content.length / 2).toString(16).padStart(2, "0") + content;
    const r = tlv("02", "01".repeat(32));
    const s = tlv("02", "00f1" + "02".repeat(31));
    assert.equal(
      toHex(signatureFromDer(bytes(tlv("30", r + s)))),
      "01".repeat(32) + "f1" + "02".repeat(31),
    );
    const cases: [string, RegExp][] = [
      ["", /truncated DER: the ECDSA-Sig-Value SEQUENCE is missing/],
      [tlv("31", r + s), /the ECDSA-Sig-Value SEQUENCE should be a DER SEQUENCE/],
      [tlv("30", r + s + "00"), /the DER signature has more than r and s/],
      [tlv("30", r + s) + "0000", /2 byte\(s\) follow the DER signature/],
      [
        tlv("30", r + s).slice(0, -2),
        /truncated DER: the ECDSA-Sig-Value SEQUENCE needs 69 bytes, 68 remain/,
      ],
      [
        tlv("30", r + "0221" + "00f1" + "02".repeat(30)),
        /truncated DER: s needs 33 bytes, 32 remain/,
      ],
      ["3081" + tlv("30", r + s).slice(2), /non-minimal DER length/],
      ["3080" + r + s + "0000", /indefinite length/],
      [tlv("30", tlv("02", "81") + tlv("02", "01")), /r is negative/],
      [tlv("30", tlv("02", "0001") + tlv("02", "01")), /r has a superfluous leading zero/],
      [tlv("30", tlv("02", "01" + "00".repeat(32)) + tlv("02", "01")), /r is 33 bytes long/],
      [tlv("30", tlv("02", "01") + tlv("04", "")), /s should be a DER INTEGER/],
      [tlv("30", tlv("02", "01") + tlv("02", "")), /s is an empty INTEGER/],
    ];
    for (const [hex, pattern] of cases)
      assert.throws(() => signatureFromDer(bytes(hex)), formatError(pattern), hex);
  });
});

describe("publicKeyFromText", () => {
  const key = KEYS[5];
  const spkiPem = key.publicKey.export({ type: "spki", format: "pem" }) as string;

  it("reads a PEM public key as Node exports it", () => {
    assert.deepEqual(publicKeyFromText(spkiPem), key.point);
    // Windows line ends, surrounding text and a key after other PEM blocks.
    const crlf = "a comment\r\n" + spkiPem.replace(/\n/g, "\r\n");
    assert.deepEqual(publicKeyFromText(crlf), key.point);
  });

  it("reads the hex of the point, in either case, with colons or line breaks", () => {
    const hex = toHex(key.point);
    assert.deepEqual(publicKeyFromText(hex), key.point);
    assert.deepEqual(publicKeyFromText(hex.toUpperCase() + "\n"), key.point);
    const colons = (hex.match(/../g) ?? []).join(":").replace(/(.{45})/g, "$1\n    ");
    assert.deepEqual(publicKeyFromText(colons), key.point);
  });

  it("reads the subject's key from an X.509 certificate made by openssl", (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-signer-"));
    try {
      const keyFile = path.join(dir, "signer.key");
      fs.writeFileSync(keyFile, key.privateKey.export({ type: "pkcs8", format: "pem" }));
      const certificate = (subject: string, extra: string[] = []) =>
        execFileSync(
          "openssl",
          ["req", "-x509", "-new", "-key", keyFile, "-subj", subject, "-days", "2", ...extra],
          { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
        );
      let pem: string;
      try {
        pem = certificate("/CN=otaflow code signer/O=otaflow test");
      } catch (error) {
        if ((error as { code?: string }).code === "ENOENT") {
          t.skip("openssl is not installed");
          return;
        }
        throw error;
      }
      assert.deepEqual(publicKeyFromText(pem), key.point);
      // The first certificate of a chain is the signer's.
      const other = KEYS[6];
      const otherFile = path.join(dir, "other.key");
      fs.writeFileSync(otherFile, other.privateKey.export({ type: "pkcs8", format: "pem" }));
      const chain =
        pem +
        execFileSync(
          "openssl",
          ["req", "-x509", "-new", "-key", otherFile, "-subj", "/CN=other", "-days", "2"],
          { encoding: "utf8" },
        );
      assert.deepEqual(publicKeyFromText(chain), key.point);
      // A long subject pushes lengths into the long form.
      const long = certificate(`/CN=${"x".repeat(60)}/O=${"y".repeat(60)}/OU=${"z".repeat(60)}`);
      assert.deepEqual(publicKeyFromText(long), key.point);
      // What openssl gives for keys the device cannot use.
      const explicit = execFileSync(
        "openssl",
        ["ec", "-in", keyFile, "-pubout", "-param_enc", "explicit"],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
      );
      assert.throws(() => publicKeyFromText(explicit), keyError(/explicit curve parameters/));
      const rsaCertificate = execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-keyout",
          path.join(dir, "rsa.key"),
        ].concat(["-subj", "/CN=rsa signer", "-days", "2"]),
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
      );
      assert.throws(() => publicKeyFromText(rsaCertificate), keyError(/an RSA-2048 key/));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("says what is wrong with a key that is not a P-256 public key", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
    const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey;
    const ed25519 = generateKeyPairSync("ed25519").publicKey;
    const spkiDer = key.publicKey.export({ type: "spki", format: "der" });
    const pem = (label: string, der: Uint8Array) =>
      `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64")}\n-----END ${label}-----\n`;
    const offCurve = key.point.slice();
    offCurve[64] ^= 1;
    const offCurveSpki = new Uint8Array(spkiDer);
    offCurveSpki[offCurveSpki.length - 1] ^= 1;
    const xTooLarge = new Uint8Array(65);
    xTooLarge.fill(0xff);
    xTooLarge[0] = 4;
    const cases: [string, RegExp][] = [
      [
        rsa.export({ type: "spki", format: "pem" }) as string,
        /an RSA-1024 key: Secure Boot V2 signs with RSA-3072/,
      ],
      [rsa.export({ type: "pkcs1", format: "pem" }) as string, /an RSA-1024 key/],
      [
        p384.export({ type: "spki", format: "pem" }) as string,
        /curve P-384 \(1\.3\.132\.0\.34\), not P-256/,
      ],
      [ed25519.export({ type: "spki", format: "pem" }) as string, /an Ed25519 key/],
      [toHex(offCurve), /the point is not on the P-256 curve/],
      [pem("PUBLIC KEY", offCurveSpki), /the point is not on the P-256 curve/],
      [toHex(xTooLarge), /X is not below the P-256 field prime/],
      [toHex(key.point.subarray(1)), /65-byte uncompressed point .* got 64 bytes/],
      ["02" + toHex(key.point.subarray(1, 33)), /got 33 bytes \(a compressed point/],
      ["05" + toHex(key.point.subarray(1)), /starts with 0x05, not 0x04/],
      ["not a key at all", /expected a PEM PUBLIC KEY or CERTIFICATE, or the hex/],
      ["", /expected a PEM PUBLIC KEY or CERTIFICATE/],
      [pem("PUBLIC KEY", spkiDer.subarray(0, 40)), /truncated DER/],
      [pem("CERTIFICATE", spkiDer), /the certificate body should be a DER SEQUENCE|truncated DER/],
      [key.privateKey.export({ type: "pkcs8", format: "pem" }) as string, /a private key/],
      [key.privateKey.export({ type: "sec1", format: "pem" }) as string, /a private key/],
      [spkiPem.replace(/-----END PUBLIC KEY-----/, ""), /no END line/],
      ["-----BEGIN PUBLIC KEY-----\n%%%%\n-----END PUBLIC KEY-----", /not base64/],
      [pem("X509 CRL", spkiDer), /PEM "X509 CRL" is neither a PUBLIC KEY nor a CERTIFICATE/],
    ];
    for (const [text, pattern] of cases)
      assert.throws(() => publicKeyFromText(text), keyError(pattern), text.slice(0, 80));
  });

  it("checkPublicKey and verifyP256 refuse a bad point with the same words", () => {
    const offCurve = key.point.slice();
    offCurve[40] ^= 0x10;
    assert.throws(() => checkPublicKey(offCurve), keyError(/not on the P-256 curve/));
    assert.throws(
      () => verifyP256(offCurve, new Uint8Array(32), new Uint8Array(64)),
      keyError(/not on the P-256 curve/),
    );
    assert.throws(() => nodeSignatures(offCurve), keyError(/not on the P-256 curve/));
    assert.throws(() => portableSignatureStream(offCurve), keyError(/not on the P-256 curve/));
  });
});

describe("signature streams", () => {
  /** `data` cut at the given points, in order. */
  function chunks(data: Uint8Array, cuts: number[]): Uint8Array[] {
    const points = cuts.map((cut) => cut % (data.length + 1)).sort((a, b) => a - b);
    const out: Uint8Array[] = [];
    let at = 0;
    for (const point of [...points, data.length]) {
      out.push(data.subarray(at, point));
      at = point;
    }
    return out;
  }

  it("the portable and the native stream agree over random chunked input", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: KEYS.length - 1 }),
        fc.uint8Array({ maxLength: 4096 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.nat(),
        fc.constantFrom("good", "data", "signature"),
        (index, data, cuts, at, tamper) => {
          const key = KEYS[index];
          let signature = signP1363(data, key);
          let fed: Uint8Array = data;
          if (tamper === "data") fed = data.length > 0 ? flipBit(data, at) : new Uint8Array([0]);
          if (tamper === "signature") signature = flipBit(signature, at);
          const streams = [
            portableSignatureStream(key.point),
            portableSignatureStream(key.point, nodeDigests),
            nodeSignatures(key.point)!,
          ];
          for (const stream of streams) for (const chunk of chunks(fed, cuts)) stream.update(chunk);
          const results = streams.map((stream) => stream.verify(signature));
          assert.deepEqual(
            results,
            [0, 1, 2].map(() => tamper === "good"),
            tamper,
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it("a stream answers false to a signature of the wrong length", () => {
    for (const stream of [portableSignatureStream(KEYS[7].point), nodeSignatures(KEYS[7].point)!])
      assert.equal(stream.verify(new Uint8Array(63)), false);
  });
});
