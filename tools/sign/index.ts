// Signing firmware images in the forms ESP-IDF and its devices verify, as Espressif's espsecure
// writes them: the Secure Boot V2 signature sector (ECDSA P-256 or RSA-3072-PSS, up to three keys),
// the V1 trailer (ECDSA P-256), and the detached base64 DER signature of AWS code signing
// (`sig-sha256-ecdsa` in afr_ota job documents). The layout is src/core/signature/sector.ts's.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { crc32 } from "../../src/core/hash/crc32";
import type { PublicKey } from "../../src/core/signature/encoding";
import { sbv2Digest } from "../../src/core/signature/keys";
import { RSA_BYTES } from "../../src/core/signature/rsa";
import {
  BLOCK_MAGIC,
  BLOCK_SIZE,
  CRC_AT,
  DIGEST_AT,
  KEY_AT,
  keyFieldsOf,
  MAX_BLOCKS,
  parseSignatureSector,
  SECTOR_SIZE,
  VERSION_ECDSA,
  VERSION_RSA,
} from "../../src/core/signature/sector";

/** An ECDSA P-256 or RSA-3072 private key, as loadSigningKey checked it. */
export type SigningKey = crypto.KeyObject;

export type KeyScheme = "ecdsa256" | "rsa3072";

export interface GeneratedKey {
  /** As espsecure generate_signing_key writes it: SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY". */
  privateKeyPem: string;
  /** SPKI PEM. */
  publicKeyPem: string;
  /** The key's Secure Boot V2 digest, in hex: what devices trust and eFuses hold. */
  digestHex: string;
  /** An ECDSA key's 65-byte point in hex, which also checks V1 and detached signatures; "" for RSA. */
  publicKeyHex: string;
}

const CURVE = "prime256v1";
const MAKE_ONE =
  "make one with `otaflow keygen`, `espsecure generate_signing_key --version 2` or " +
  `\`openssl ecparam -name ${CURVE} -genkey -noout\``;

export function generateSigningKey(scheme: KeyScheme = "ecdsa256"): GeneratedKey {
  const pair =
    scheme === "rsa3072"
      ? crypto.generateKeyPairSync("rsa", { modulusLength: 3072, publicExponent: 65537 })
      : crypto.generateKeyPairSync("ec", { namedCurve: CURVE });
  return {
    privateKeyPem: pair.privateKey.export({
      type: scheme === "rsa3072" ? "pkcs1" : "sec1",
      format: "pem",
    }) as string,
    publicKeyPem: pair.publicKey.export({ type: "spki", format: "pem" }) as string,
    digestHex: keyDigest(pair.privateKey),
    publicKeyHex:
      scheme === "rsa3072" ? "" : Buffer.from(publicKeyOf(pair.privateKey).point!).toString("hex"),
  };
}

/**
 * Reads an ECDSA P-256 or RSA-3072 private key from PEM: PKCS#8 ("PRIVATE KEY"), SEC1 ("EC PRIVATE
 * KEY", with or without the "EC PARAMETERS" block openssl ecparam writes before it) or PKCS#1 ("RSA
 * PRIVATE KEY").
 */
export function loadSigningKey(pem: string): SigningKey {
  if (
    !pem.includes("PRIVATE KEY-----") &&
    (pem.includes("PUBLIC KEY-----") || pem.includes("-----BEGIN CERTIFICATE-----"))
  )
    throw new Error(
      "this is a public key or certificate: signing needs the private key (KEY.pem, not KEY.pub.pem)",
    );
  if (
    pem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
    pem.includes("Proc-Type: 4,ENCRYPTED")
  )
    throw new Error(
      "the key is encrypted: give an unencrypted copy (openssl pkey -in KEY -out PLAIN.pem)",
    );
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(pem);
  } catch (error) {
    throw new Error(
      `not a PEM private key (${(error as Error).message}): expected "EC PRIVATE KEY", "RSA PRIVATE KEY" or "PRIVATE KEY"; ${MAKE_ONE}`,
      { cause: error },
    );
  }
  if (key.asymmetricKeyType === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (bits !== 3072)
      throw new Error(`the key is RSA-${bits}: Secure Boot V2 signs with RSA-3072; ${MAKE_ONE}`);
    return key;
  }
  if (key.asymmetricKeyType !== "ec")
    throw new Error(
      `the key is ${String(key.asymmetricKeyType).toUpperCase()}, not EC or RSA: Secure Boot signs with ECDSA P-256 (${CURVE}) or RSA-3072; ${MAKE_ONE}`,
    );
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve !== CURVE)
    throw new Error(
      `the key is on curve ${curve}, not ${CURVE}: otaflow signs with ECDSA P-256; ${MAKE_ONE}`,
    );
  return key;
}

/** Reads and checks a key file; every error names the file. */
export function readSigningKeyFile(file: string): SigningKey {
  let pem: string;
  try {
    pem = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read the signing key ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    return loadSigningKey(pem);
  } catch (error) {
    throw new Error(`signing key ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** The public half of a key (private or public) as the core reads keys. */
export function publicKeyOf(key: crypto.KeyObject): PublicKey {
  const jwk = (key.type === "public" ? key : crypto.createPublicKey(key)).export({ format: "jwk" });
  if (jwk.kty === "RSA")
    return {
      modulus: Buffer.from(jwk.n!, "base64url"),
      exponent: Buffer.from(jwk.e!, "base64url").readUIntBE(
        0,
        Buffer.from(jwk.e!, "base64url").length,
      ),
    };
  const x = Buffer.from(jwk.x!, "base64url");
  const y = Buffer.from(jwk.y!, "base64url");
  if (x.length !== 32 || y.length !== 32) throw new Error("not a P-256 key");
  const point = new Uint8Array(65);
  point[0] = 4;
  point.set(x, 1);
  point.set(y, 33);
  return { point };
}

/** Hex of the key's Secure Boot V2 digest, as `espsecure digest_sbv2_public_key` gives it. */
export function keyDigest(key: crypto.KeyObject): string {
  return sbv2Digest(publicKeyOf(key));
}

/** Whether the image already ends with a Secure Boot V2 signature sector. */
export function hasSignatureSector(image: Uint8Array): boolean {
  if (image.length < 2 * SECTOR_SIZE || image.length % SECTOR_SIZE !== 0) return false;
  try {
    parseSignatureSector(image.subarray(image.length - SECTOR_SIZE));
    return true;
  } catch {
    return false;
  }
}

/** Reverses a big-endian number into little-endian, as the blocks hold numbers. */
function littleEndian(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes).reverse();
}

/** One 1216-byte block: the key's fields and its signature over `padded`, whose SHA-256 is `digest`. */
function signatureBlock(padded: Uint8Array, digest: Uint8Array, key: SigningKey): Uint8Array {
  const block = new Uint8Array(BLOCK_SIZE);
  const rsa = key.asymmetricKeyType === "rsa";
  block[0] = BLOCK_MAGIC;
  block[1] = rsa ? VERSION_RSA : VERSION_ECDSA;
  block.set(digest, DIGEST_AT);
  const fields = keyFieldsOf(publicKeyOf(key));
  block.set(fields, KEY_AT);
  let signature: Uint8Array;
  if (rsa) {
    const be = crypto.sign("sha256", padded, {
      key,
      padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 32,
    });
    if (be.length !== RSA_BYTES) throw new Error(`an RSA signature of ${be.length} bytes`);
    signature = littleEndian(be);
  } else {
    const rs = crypto.sign("sha256", padded, { key, dsaEncoding: "ieee-p1363" });
    signature = new Uint8Array(64);
    signature.set(littleEndian(rs.subarray(0, 32)), 0);
    signature.set(littleEndian(rs.subarray(32, 64)), 32);
  }
  block.set(signature, KEY_AT + fields.length);
  new DataView(block.buffer).setUint32(CRC_AT, crc32(block.subarray(0, CRC_AT)), true);
  return block;
}

/**
 * The image padded with 0xFF to a multiple of 4096, then a Secure Boot V2 signature sector with one
 * block per key (at most three), as `espsecure sign_data --version 2 --keyfile ...` writes it.
 */
export function signAppended(image: Uint8Array, keys: SigningKey | SigningKey[]): Uint8Array {
  const list = Array.isArray(keys) ? keys : [keys];
  if (list.length === 0 || list.length > MAX_BLOCKS)
    throw new Error(`a signature sector holds 1 to ${MAX_BLOCKS} signatures, not ${list.length}`);
  if (hasSignatureSector(image))
    throw new Error(
      "the image already ends with a Secure Boot V2 signature sector: sign the unsigned image",
    );
  const padded = Math.ceil(image.length / SECTOR_SIZE) * SECTOR_SIZE;
  const signed = new Uint8Array(padded + SECTOR_SIZE).fill(0xff);
  signed.set(image);
  const covered = signed.subarray(0, padded);
  const digest = crypto.createHash("sha256").update(covered).digest();
  for (let i = 0; i < list.length; i++)
    signed.set(signatureBlock(covered, digest, list[i]), padded + i * BLOCK_SIZE);
  return signed;
}

function ecdsaOnly(key: SigningKey, form: string): void {
  if (key.asymmetricKeyType !== "ec")
    throw new Error(`${form} is ECDSA P-256 only: sign with an EC key, or use the V2 sector`);
}

/** The image, then the 68-byte V1 trailer (`espsecure sign_data --version 1`): uint32 0, r || s. */
export function signV1(image: Uint8Array, key: SigningKey): Uint8Array {
  ecdsaOnly(key, "a V1 signature");
  const rs = crypto.sign("sha256", image, { key, dsaEncoding: "ieee-p1363" });
  const signed = new Uint8Array(image.length + 68);
  signed.set(image);
  signed.set(rs, image.length + 4);
  return signed;
}

/** The base64 DER ECDSA-Sig-Value over the whole image, as AWS code signing puts in afr_ota. */
export function signDetached(image: Uint8Array, key: SigningKey): string {
  ecdsaOnly(key, "a detached (afr_ota) signature");
  return crypto.sign("sha256", image, { key, dsaEncoding: "der" }).toString("base64");
}
