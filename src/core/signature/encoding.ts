// The encodings keys and signatures arrive in: a PEM public key or an X.509 certificate (AWS code
// signing hands the device its signer's certificate), the hex of the point, and DER ECDSA
// signatures as AWS Signer and OpenSSL write them. Each refusal says what is wrong with the input,
// since a wrong key format is the usual reason a signed update is rejected.
import type { OtaError } from "../errors";
import { otaError } from "../errors";
import { createDigest } from "../hash/index";
import type { NativeDigests, SignatureStream } from "../ports";
import { base64Decode, fromHex, toHex } from "../util/bytes";
import { isSpace, removeChars } from "../util/chars";
import { checkPublicKey, verifyP256 } from "./p256";

type Fail = (message: string) => OtaError;

function keyError(message: string): OtaError {
  return otaError("signature-invalid", "key: " + message);
}

function signatureError(message: string): OtaError {
  return otaError("signature-invalid", "signature format: " + message);
}

/** A DER element: its tag and where its content lies. */
interface Element {
  tag: number;
  start: number;
  end: number;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OID = 0x06;
/** [0] EXPLICIT, the version field of a certificate. */
const CONTEXT_0 = 0xa0;

const TAG_NAMES: Record<number, string> = {
  [SEQUENCE]: "SEQUENCE",
  [INTEGER]: "INTEGER",
  [BIT_STRING]: "BIT STRING",
  [OID]: "OBJECT IDENTIFIER",
};

/** The element at `at`, which must end by `end` and, when `tag` is given, have that tag. */
function element(
  der: Uint8Array,
  at: number,
  end: number,
  what: string,
  fail: Fail,
  tag?: number,
): Element {
  if (at + 2 > end) throw fail(`truncated DER: ${what} is missing`);
  if (tag !== undefined && der[at] !== tag)
    throw fail(
      `${what} should be a DER ${TAG_NAMES[tag]} (tag 0x${hexByte(tag)}), found tag 0x${hexByte(der[at])}`,
    );
  let length = der[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) throw fail(`${what} has an indefinite length (BER, not DER)`);
    if (count > 4) throw fail(`${what} has a ${count}-byte length, far too long`);
    if (start + count > end) throw fail(`truncated DER: the length of ${what} is cut off`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[start++];
    // DER: the long form only from 128 on, in as few bytes as it takes.
    if (length < 0x80 || der[at + 2] === 0) throw fail(`${what} has a non-minimal DER length`);
  }
  if (start + length > end)
    throw fail(`truncated DER: ${what} needs ${length} bytes, ${end - start} remain`);
  return { tag: der[at], start, end: start + length };
}

function hexByte(value: number): string {
  return toHex(new Uint8Array([value]));
}

/** An object identifier's content bytes in dotted notation. */
function dotted(bytes: Uint8Array): string {
  const parts: number[] = [];
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    value = value * 128 + (bytes[i] & 0x7f);
    if (bytes[i] & 0x80) continue;
    if (parts.length === 0) {
      const first = value < 80 ? Math.floor(value / 40) : 2;
      parts.push(first, value - 40 * first);
    } else parts.push(value);
    value = 0;
  }
  return parts.join(".");
}

const EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const P256 = "1.2.840.10045.3.1.7";
const OTHER_ALGORITHMS: Record<string, string> = {
  "1.2.840.113549.1.1.10": "an RSA-PSS key",
  "1.3.101.112": "an Ed25519 key",
  "1.3.101.113": "an Ed448 key",
  "1.2.840.10040.4.1": "a DSA key",
};
const OTHER_CURVES: Record<string, string> = {
  "1.3.132.0.34": "P-384",
  "1.3.132.0.35": "P-521",
  "1.3.132.0.10": "secp256k1",
  "1.2.840.10045.3.1.1": "P-192",
  "1.3.132.0.33": "P-224",
};

/** A public key: a P-256 point (65 bytes, 0x04 || X || Y) or an RSA modulus and exponent. */
export type PublicKey =
  | { point: Uint8Array; modulus?: undefined; exponent?: undefined }
  | { point?: undefined; modulus: Uint8Array; exponent: number };

const RSA_ENCRYPTION = "1.2.840.113549.1.1.1";

/** An RSAPublicKey (PKCS #1: SEQUENCE of INTEGER n and e) at `at`, within `end`. */
function rsaKeyOfDer(der: Uint8Array, at: number, end: number): PublicKey {
  const sequence = element(der, at, end, "the RSA public key", keyError, SEQUENCE);
  const n = element(der, sequence.start, sequence.end, "the RSA modulus", keyError, INTEGER);
  const e = element(der, n.end, sequence.end, "the RSA exponent", keyError, INTEGER);
  let start = n.start;
  while (start < n.end && der[start] === 0) start++;
  let bits = (n.end - start) * 8;
  for (let top = 0x80; start < n.end && top > 0 && !(der[start] & top); top >>= 1) bits--;
  if (bits !== 3072)
    throw keyError(`an RSA-${bits} key: Secure Boot V2 signs with RSA-3072 (or ECDSA P-256)`);
  let exponent = 0;
  for (let i = e.start; i < e.end; i++) exponent = exponent * 256 + der[i];
  if (exponent < 3 || exponent > 0xffffffff || exponent % 2 === 0)
    throw keyError(`the RSA exponent ${exponent} is not an odd number of at most 32 bits`);
  return { modulus: der.slice(start, n.end), exponent };
}

/** The key of the SubjectPublicKeyInfo at `at`, within `end`. */
function keyOfSpki(der: Uint8Array, at: number, end: number): PublicKey {
  const spki = element(der, at, end, "the SubjectPublicKeyInfo", keyError, SEQUENCE);
  const algorithm = element(der, spki.start, spki.end, "the key's algorithm", keyError, SEQUENCE);
  const oid = element(der, algorithm.start, algorithm.end, "the algorithm's OID", keyError, OID);
  const name = dotted(der.subarray(oid.start, oid.end));
  const bits = element(der, algorithm.end, spki.end, "the public key bits", keyError, BIT_STRING);
  if (bits.start === bits.end || der[bits.start] !== 0)
    throw keyError("the public key BIT STRING does not hold whole bytes");
  if (name === RSA_ENCRYPTION) return rsaKeyOfDer(der, bits.start + 1, bits.end);
  if (name !== EC_PUBLIC_KEY) {
    const known = OTHER_ALGORITHMS[name];
    throw keyError(
      known
        ? `${known} (${name}), not an EC P-256 or RSA key: Secure Boot signs with ECDSA P-256 or RSA-3072`
        : `algorithm ${name} is not id-ecPublicKey (${EC_PUBLIC_KEY}) nor rsaEncryption`,
    );
  }
  const curve = element(der, oid.end, algorithm.end, "the EC key's curve", keyError);
  if (curve.tag !== OID)
    throw keyError(
      "the EC key has explicit curve parameters; use the named curve P-256 (prime256v1)",
    );
  const curveName = dotted(der.subarray(curve.start, curve.end));
  if (curveName !== P256) {
    const known = OTHER_CURVES[curveName];
    throw keyError(
      `the key is on curve ${known ? `${known} (${curveName})` : curveName}, not P-256 (${P256})`,
    );
  }
  const point = der.slice(bits.start + 1, bits.end);
  checkPublicKey(point);
  return { point };
}

/** The subject's key in an X.509 certificate. */
function keyOfCertificate(der: Uint8Array): PublicKey {
  const certificate = element(der, 0, der.length, "the certificate", keyError, SEQUENCE);
  const tbs = element(
    der,
    certificate.start,
    certificate.end,
    "the certificate body",
    keyError,
    SEQUENCE,
  );
  let at = tbs.start;
  if (element(der, at, tbs.end, "the certificate's first field", keyError).tag === CONTEXT_0)
    at = element(der, at, tbs.end, "the certificate version", keyError).end;
  // serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo.
  const fields = ["serial number", "signature algorithm", "issuer", "validity", "subject"];
  for (let i = 0; i < fields.length; i++)
    at = element(der, at, tbs.end, `the certificate's ${fields[i]}`, keyError).end;
  return keyOfSpki(der, at, tbs.end);
}

interface PemBlock {
  label: string;
  body: string;
}

function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  let at = text.indexOf("-----BEGIN ");
  while (at >= 0) {
    const labelStart = at + "-----BEGIN ".length;
    const labelEnd = text.indexOf("-----", labelStart);
    if (labelEnd < 0) throw keyError("a PEM BEGIN line is not closed with -----");
    const label = text.substring(labelStart, labelEnd);
    const endLine = "-----END " + label + "-----";
    const bodyEnd = text.indexOf(endLine, labelEnd);
    if (bodyEnd < 0) throw keyError(`PEM "${label}" has no END line (${endLine})`);
    blocks.push({ label, body: text.substring(labelEnd + 5, bodyEnd) });
    at = text.indexOf("-----BEGIN ", bodyEnd + endLine.length);
  }
  return blocks;
}

function keyOfPem(blocks: PemBlock[]): PublicKey {
  // A file may hold more than one block (a certificate chain, EC PARAMETERS before a key): the
  // first public key or certificate is the one meant.
  for (let i = 0; i < blocks.length; i++) {
    const { label, body } = blocks[i];
    if (label !== "PUBLIC KEY" && label !== "CERTIFICATE" && label !== "RSA PUBLIC KEY") continue;
    const der = base64Decode(removeChars(body, isSpace));
    if (!der) throw keyError(`the body of PEM "${label}" is not base64`);
    if (label === "RSA PUBLIC KEY") return rsaKeyOfDer(der, 0, der.length);
    return label === "CERTIFICATE" ? keyOfCertificate(der) : keyOfSpki(der, 0, der.length);
  }
  const labels = blocks.map((block) => `"${block.label}"`).join(", ");
  for (let i = 0; i < blocks.length; i++) {
    if (blocks[i].label.indexOf("PRIVATE KEY") >= 0)
      throw keyError(
        `this is a private key (PEM ${labels}); give the device the public key or the signer's certificate`,
      );
  }
  throw keyError(`PEM ${labels} is neither a PUBLIC KEY nor a CERTIFICATE`);
}

/**
 * A P-256 or RSA-3072 public key given as PEM "PUBLIC KEY" (SubjectPublicKeyInfo), PEM
 * "CERTIFICATE" (X.509, its subject's key) or PEM "RSA PUBLIC KEY" (PKCS #1); undefined for text
 * with no PEM block.
 */
export function publicKeyOfPem(text: string): PublicKey | undefined {
  const blocks = pemBlocks(text);
  return blocks.length > 0 ? keyOfPem(blocks) : undefined;
}

/**
 * The 65-byte point of a P-256 public key given as PEM (as publicKeyOfPem reads it) or the hex of
 * the point (colons and spaces allowed).
 */
export function publicKeyFromText(text: string): Uint8Array {
  const key = publicKeyOfPem(text);
  if (key) {
    if (!key.point)
      throw keyError("an RSA key, not an EC P-256 key: this signature form is ECDSA P-256 only");
    return key.point;
  }
  const point = fromHex(removeChars(text, (code) => code === 58 || isSpace(code)));
  if (!point || point.length === 0)
    throw keyError(
      "expected a PEM PUBLIC KEY or CERTIFICATE, or the hex of the 65-byte point 04 || X || Y",
    );
  checkPublicKey(point);
  return point;
}

/** A DER INTEGER's value as 32 big-endian bytes into `out` at `offset`. */
/** The INTEGER at `at`, within `end`, as 32 big-endian bytes into `out` at `offset`. */
function integerInto(
  der: Uint8Array,
  at: number,
  end: number,
  name: string,
  out: Uint8Array,
  offset: number,
): Element {
  const found = element(der, at, end, name, signatureError, INTEGER);
  let start = found.start;
  if (start === found.end) throw signatureError(`${name} is an empty INTEGER`);
  if (der[start] & 0x80) throw signatureError(`${name} is negative`);
  if (der[start] === 0 && start + 1 < found.end && !(der[start + 1] & 0x80))
    throw signatureError(`${name} has a superfluous leading zero (not DER)`);
  while (start < found.end && der[start] === 0) start++;
  if (found.end - start > 32)
    throw signatureError(`${name} is ${found.end - start} bytes long; P-256 values fit in 32`);
  out.set(der.subarray(start, found.end), offset + 32 - (found.end - start));
  return found;
}

function signatureOfDer(der: Uint8Array): Uint8Array {
  const what = "the ECDSA-Sig-Value SEQUENCE";
  const sequence = element(der, 0, der.length, what, signatureError, SEQUENCE);
  if (sequence.end !== der.length)
    throw signatureError(`${der.length - sequence.end} byte(s) follow the DER signature`);
  const out = new Uint8Array(64);
  const r = integerInto(der, sequence.start, sequence.end, "r", out, 0);
  const s = integerInto(der, r.end, sequence.end, "s", out, 32);
  if (s.end !== sequence.end) throw signatureError("the DER signature has more than r and s");
  return out;
}

/**
 * r || s (32 bytes each) from an ASN.1 DER ECDSA-Sig-Value (SEQUENCE of INTEGER r and s), as AWS
 * Signer and OpenSSL write it; 64 bytes that are not DER are taken as r || s already.
 */
export function signatureFromDer(der: Uint8Array): Uint8Array {
  try {
    return signatureOfDer(der);
  } catch (error) {
    if (der.length === 64) return der.slice();
    throw error;
  }
}

/** A SignatureStream over the portable verifier, hashing with the host's SHA-256 when it has one. */
export function portableSignatureStream(
  publicKey: Uint8Array,
  nativeDigests?: NativeDigests,
): SignatureStream {
  checkPublicKey(publicKey);
  const sha = createDigest("sha256", nativeDigests);
  let digest: Uint8Array | undefined;
  return {
    update: (data) => sha.update(data),
    verify(signature) {
      // The digest is final once taken: another verify() checks the same bytes.
      if (!digest) digest = sha.digest();
      return verifyP256(publicKey, digest, signature);
    },
  };
}
