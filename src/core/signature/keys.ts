// The keys a device trusts, each known by its Secure Boot V2 key digest as espsecure computes it
// (digest_sbv2_public_key). A key given as a PEM public key or certificate also keeps its P-256
// point: a V1 trailer and afr_ota's detached signature name no key, so only a point can check them.
import { otaError } from "../errors";
import { fromHex } from "../util/bytes";
import { isSpace, removeChars } from "../util/chars";
import { publicKeyFromText, publicKeyOfPem, type PublicKey } from "./encoding";
import { keyDigestOf, keyFieldsOf } from "./sector";

export interface TrustedKey {
  /** Hex of the key's SBv2 digest. */
  digest: string;
  /** The 65-byte P-256 point, when the key was given whole and is ECDSA. */
  point?: Uint8Array;
}

/** The SBv2 key digest (hex) of a public key. */
export function sbv2Digest(key: PublicKey): string {
  return keyDigestOf(keyFieldsOf(key));
}

/**
 * A trusted key from its text: a PEM public key, certificate or RSA public key (ECDSA P-256 or
 * RSA-3072), the 64 hex digits of an SBv2 key digest, or the hex of a P-256 point. Throws
 * signature-invalid ("key: ...") saying what is wrong.
 */
export function trustedKey(text: string): TrustedKey {
  const pem = publicKeyOfPem(text);
  if (pem) return { digest: sbv2Digest(pem), point: pem.point };
  // Blanks and colons are allowed in hex, as it is often pasted.
  const hex = removeChars(text, (code) => code === 58 || isSpace(code));
  if (hex.length === 64) {
    const digest = fromHex(hex);
    if (!digest) throw otaError("signature-invalid", `key: "${text}" is not hex`);
    return { digest: hex.toLowerCase() };
  }
  // Other hex is taken as a point, so that its refusal says what is wrong with it.
  if (hex.length === 0 || !fromHex(hex))
    throw otaError(
      "signature-invalid",
      "key: expected a PEM public key or certificate (ECDSA P-256 or RSA-3072), the 64 hex digits " +
        "of a Secure Boot V2 key digest, or the hex of the 65-byte P-256 point 04 || X || Y",
    );
  const point = publicKeyFromText(hex);
  return { digest: sbv2Digest({ point }), point };
}

/** Parses the configured keys; throws at start-up on a bad one. */
export function trustedKeys(texts: string[]): TrustedKey[] {
  const keys: TrustedKey[] = [];
  for (let i = 0; i < texts.length; i++) keys.push(trustedKey(texts[i]));
  return keys;
}
