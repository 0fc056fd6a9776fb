// Signing firmware images with ECDSA P-256 over SHA-256, in the two forms devices verify: the
// otaflow signature block appended to the image (src/core/signature/block.ts), and the detached
// base64 DER signature of AWS code signing (`sig-sha256-ecdsa` in afr_ota job documents).
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import {
  encodeSignatureBlock,
  keyId,
  parseSignatureBlock,
  SIGNATURE_BLOCK_SIZE,
} from "../../src/core/signature/block";

/** A P-256 private key, as loadSigningKey checked it. */
export type SigningKey = crypto.KeyObject;

export interface GeneratedKey {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** SPKI PEM. */
  publicKeyPem: string;
  /** The 65-byte uncompressed point, in hex: what a firmware build embeds. */
  publicKeyHex: string;
  /** The 8-byte id signature blocks name the key by, in hex. */
  keyIdHex: string;
}

const CURVE = "prime256v1";
const MAKE_ONE = `make one with \`otaflow keygen\` or \`openssl ecparam -name ${CURVE} -genkey -noout\``;

export function generateSigningKey(): GeneratedKey {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: CURVE });
  const point = publicPoint(privateKey);
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }) as string,
    publicKeyHex: Buffer.from(point).toString("hex"),
    keyIdHex: Buffer.from(keyId(point)).toString("hex"),
  };
}

/**
 * Reads a P-256 private key from PEM: PKCS#8 ("PRIVATE KEY") or SEC1 ("EC PRIVATE KEY", with or
 * without the "EC PARAMETERS" block openssl ecparam writes before it).
 */
export function loadSigningKey(pem: string): SigningKey {
  if (
    !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem) &&
    /-----BEGIN ([A-Z]+ )?PUBLIC KEY-----|-----BEGIN CERTIFICATE-----/.test(pem)
  )
    throw new Error(
      "this is a public key or certificate: signing needs the private key (KEY.pem, not KEY.pub.pem)",
    );
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem))
    throw new Error(
      "the key is encrypted: give an unencrypted copy (openssl pkey -in KEY -out PLAIN.pem)",
    );
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(pem);
  } catch (error) {
    throw new Error(
      `not a PEM private key (${(error as Error).message}): expected "EC PRIVATE KEY" or "PRIVATE KEY"; ${MAKE_ONE}`,
      { cause: error },
    );
  }
  if (key.asymmetricKeyType !== "ec")
    throw new Error(
      `the key is ${String(key.asymmetricKeyType).toUpperCase()}, not EC: otaflow signs with ECDSA P-256 (${CURVE}); ${MAKE_ONE}`,
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

/** The key's public point: 0x04, x and y, 32 bytes each. */
export function publicPoint(key: SigningKey): Uint8Array {
  const jwk = crypto.createPublicKey(key).export({ format: "jwk" });
  const x = Buffer.from(jwk.x!, "base64url");
  const y = Buffer.from(jwk.y!, "base64url");
  if (x.length !== 32 || y.length !== 32) throw new Error("not a P-256 key");
  const point = new Uint8Array(65);
  point[0] = 4;
  point.set(x, 1);
  point.set(y, 33);
  return point;
}

/** Whether the image already ends with an otaflow signature block. */
export function hasSignatureBlock(image: Uint8Array): boolean {
  if (image.length < SIGNATURE_BLOCK_SIZE) return false;
  try {
    parseSignatureBlock(image.subarray(image.length - SIGNATURE_BLOCK_SIZE));
    return true;
  } catch {
    return false;
  }
}

/** The image followed by its signature block. */
export function signAppended(image: Uint8Array, key: SigningKey): Uint8Array {
  if (hasSignatureBlock(image))
    throw new Error(
      "the image already ends with an otaflow signature block: sign the unsigned image",
    );
  const block = encodeSignatureBlock({
    keyId: keyId(publicPoint(key)),
    digest: crypto.createHash("sha256").update(image).digest(),
    signature: crypto.sign("sha256", image, { key, dsaEncoding: "ieee-p1363" }),
  });
  const signed = new Uint8Array(image.length + block.length);
  signed.set(image);
  signed.set(block, image.length);
  return signed;
}

/** The base64 DER ECDSA-Sig-Value over the whole image, as AWS code signing puts in afr_ota. */
export function signDetached(image: Uint8Array, key: SigningKey): string {
  return crypto.sign("sha256", image, { key, dsaEncoding: "der" }).toString("base64");
}
