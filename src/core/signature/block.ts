// The signature block otaflow appends to an image for clouds whose offers carry no signature
// (ThingsBoard, Tencent, plain AWS jobs). The offer's size includes it and it sits in the last
// SIGNATURE_BLOCK_SIZE bytes, so a streaming check knows from the first byte where the signed bytes
// end. ESP-IDF's loaders ignore bytes after the image, so a signed image boots unchanged.
//
//    0   8  magic "OTAFLOWS"
//    8   1  format version, 1
//    9   1  algorithm, 1 = ECDSA P-256 over SHA-256
//   10   6  zero
//   16   8  key id: the first 8 bytes of the SHA-256 of the signing key's 65-byte SEC1 point
//   24  32  SHA-256 of the signed bytes (everything before the block), to tell a changed image
//           from a wrong key or a forged signature
//   56  64  signature: r and s, 32 bytes each, big-endian
//  120   8  zero
import { otaError } from "../errors";
import { Sha256 } from "../hash/sha256";
import { toHex } from "../util/bytes";

export const SIGNATURE_BLOCK_SIZE = 128;
const MAGIC = "OTAFLOWS";
const FORMAT_VERSION = 1;
const ECDSA_P256_SHA256 = 1;

export interface SignatureBlock {
  keyId: Uint8Array;
  /** SHA-256 of the signed bytes, as the signer computed it. */
  digest: Uint8Array;
  /** r and s, 32 bytes each. */
  signature: Uint8Array;
}

/** The 8-byte id of a public key (65-byte uncompressed SEC1 point), as blocks name it. */
export function keyId(publicKey: Uint8Array): Uint8Array {
  const sha = new Sha256();
  sha.update(publicKey);
  return sha.digest().subarray(0, 8);
}

function formatError(message: string) {
  return otaError("signature-invalid", "signature format: " + message);
}

export function parseSignatureBlock(bytes: Uint8Array): SignatureBlock {
  if (bytes.length !== SIGNATURE_BLOCK_SIZE)
    throw formatError(`a signature block is ${SIGNATURE_BLOCK_SIZE} bytes, got ${bytes.length}`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC.charCodeAt(i))
      throw formatError(
        "the image does not end with an otaflow signature block (magic " +
          toHex(bytes.subarray(0, 8)) +
          "); sign it with `otaflow sign`",
      );
  }
  if (bytes[8] !== FORMAT_VERSION)
    throw formatError(`block format ${bytes[8]} is not supported (this agent reads format 1)`);
  if (bytes[9] !== ECDSA_P256_SHA256)
    throw formatError(`algorithm ${bytes[9]} is not supported (1, ECDSA P-256 with SHA-256)`);
  return {
    keyId: bytes.slice(16, 24),
    digest: bytes.slice(24, 56),
    signature: bytes.slice(56, 120),
  };
}

export function encodeSignatureBlock(block: SignatureBlock): Uint8Array {
  const bytes = new Uint8Array(SIGNATURE_BLOCK_SIZE);
  for (let i = 0; i < MAGIC.length; i++) bytes[i] = MAGIC.charCodeAt(i);
  bytes[8] = FORMAT_VERSION;
  bytes[9] = ECDSA_P256_SHA256;
  bytes.set(block.keyId, 16);
  bytes.set(block.digest, 24);
  bytes.set(block.signature, 56);
  return bytes;
}
