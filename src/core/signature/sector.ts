// The Secure Boot V2 signature sector, as `espsecure sign_data --version 2` appends it and the ESP32
// ROM, the bootloader and esp_ota_end read it: the image padded with 0xFF to a multiple of 4096,
// then one 4096-byte sector of up to three 1216-byte blocks, the rest 0xFF. A block:
//
//      0    1  magic 0xE7
//      1    1  version: 0x02 RSA-3072-PSS, 0x03 ECDSA
//      2    2  reserved
//      4   32  SHA-256 of everything before the sector
//     36       the key, then the signature, all numbers little-endian:
//              RSA: n (384), e (uint32), R^2 mod n (384), -n^-1 mod 2^32 (uint32), signature (384)
//              ECDSA: curve id (1, 2 = P-256), X (32), Y (32), r (32), s (32)
//   1196    4  CRC-32 (zlib's, little-endian) of bytes 0..1195
//   1200   16  zero
//
// A key is known by its digest: the SHA-256 of its fields as the block holds them (776 bytes for
// RSA, 65 for ECDSA), which is what espsecure's digest_sbv2_public_key prints and the eFuses hold.
import { otaError } from "../errors";
import { crc32 } from "../hash/crc32";
import { Sha256 } from "../hash/sha256";
import { toHex } from "../util/bytes";
import type { PublicKey } from "./encoding";
import { verifyP256 } from "./p256";
import { RSA_BYTES, rsaMontgomeryConstants, verifyRsaPss, type RsaKey } from "./rsa";

export const SECTOR_SIZE = 4096;
export const BLOCK_SIZE = 1216;
export const MAX_BLOCKS = 3;
export const BLOCK_MAGIC = 0xe7;
export const VERSION_RSA = 0x02;
export const VERSION_ECDSA = 0x03;
export const CURVE_P256 = 2;
export const DIGEST_AT = 4;
export const KEY_AT = 36;
export const RSA_KEY_BYTES = 2 * RSA_BYTES + 8;
export const ECDSA_KEY_BYTES = 65;
export const CRC_AT = 1196;

export type Scheme = "RSA-3072" | "ECDSA P-256";

export interface SignatureBlockV2 {
  /** 0, 1 or 2: where it sits in the sector. */
  index: number;
  scheme: Scheme;
  /** SHA-256 of the bytes before the sector, as the signer computed it. */
  imageDigest: Uint8Array;
  /** The key fields, as the key digest covers them. */
  key: Uint8Array;
  /** Hex of the key's SBv2 digest. */
  keyDigest: string;
  /** As the block holds it: little-endian. */
  signature: Uint8Array;
}

function formatError(message: string) {
  return otaError("signature-invalid", "signature format: " + message);
}

function uint32LE(bytes: Uint8Array, at: number): number {
  return bytes[at] + bytes[at + 1] * 0x100 + bytes[at + 2] * 0x10000 + bytes[at + 3] * 0x1000000;
}

/** Hex of the SHA-256 of a key's fields: its Secure Boot V2 key digest. */
export function keyDigestOf(fields: Uint8Array): string {
  const sha = new Sha256();
  sha.update(fields);
  return toHex(sha.digest());
}

function reversed(bytes: Uint8Array, from: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = bytes[from + length - 1 - i];
  return out;
}

/** A public key's fields as a Secure Boot V2 block holds them. */
export function keyFieldsOf(key: PublicKey): Uint8Array {
  if (key.point) {
    const fields = new Uint8Array(ECDSA_KEY_BYTES);
    fields[0] = CURVE_P256;
    fields.set(reversed(key.point, 1, 32), 1);
    fields.set(reversed(key.point, 33, 32), 33);
    return fields;
  }
  const modulus = new Uint8Array(RSA_BYTES);
  modulus.set(reversed(key.modulus, 0, key.modulus.length), 0);
  const constants = rsaMontgomeryConstants(modulus);
  const fields = new Uint8Array(RSA_KEY_BYTES);
  fields.set(modulus, 0);
  putUint32LE(fields, RSA_BYTES, key.exponent);
  fields.set(constants.rr, RSA_BYTES + 4);
  putUint32LE(fields, 2 * RSA_BYTES + 4, constants.factor);
  return fields;
}

function putUint32LE(bytes: Uint8Array, at: number, value: number): void {
  for (let i = 0; i < 4; i++) {
    bytes[at + i] = value % 256;
    value = Math.floor(value / 256);
  }
}

/** The 65-byte SEC1 point of ECDSA key fields. */
export function pointOfFields(fields: Uint8Array): Uint8Array {
  const point = new Uint8Array(65);
  point[0] = 4;
  point.set(reversed(fields, 1, 32), 1);
  point.set(reversed(fields, 33, 32), 33);
  return point;
}

function rsaKeyOfFields(fields: Uint8Array): RsaKey {
  return {
    modulus: fields.subarray(0, RSA_BYTES),
    exponent: uint32LE(fields, RSA_BYTES),
    rr: fields.subarray(RSA_BYTES + 4, 2 * RSA_BYTES + 4),
    factor: uint32LE(fields, 2 * RSA_BYTES + 4),
  };
}

/** An ECDSA block's r || s, big-endian, as verifyP256 and the native verifiers take it. */
export function ecdsaSignatureOf(block: SignatureBlockV2): Uint8Array {
  const out = new Uint8Array(64);
  out.set(reversed(block.signature, 0, 32), 0);
  out.set(reversed(block.signature, 32, 32), 32);
  return out;
}

/** Whether the block's signature verifies over `digest` with the block's own key, portably. */
export function verifyBlock(block: SignatureBlockV2, digest: Uint8Array): boolean {
  if (block.scheme === "RSA-3072")
    return verifyRsaPss(rsaKeyOfFields(block.key), digest, block.signature);
  return verifyP256(pointOfFields(block.key), digest, ecdsaSignatureOf(block));
}

/** A copy of bytes[from..to): Espruino's Uint8Array slice() gives a plain array, not a Uint8Array. */
function copyOf(bytes: Uint8Array, from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  out.set(bytes.subarray(from, to));
  return out;
}

function parseBlock(sector: Uint8Array, index: number): SignatureBlockV2 {
  const at = index * BLOCK_SIZE;
  const block = sector.subarray(at, at + BLOCK_SIZE);
  const where = `signature block ${index}`;
  const crc = crc32(block.subarray(0, CRC_AT));
  if (crc !== uint32LE(block, CRC_AT))
    throw formatError(
      `${where} has CRC-32 ${uint32LE(block, CRC_AT).toString(16)}, its bytes give ${crc.toString(16)}: the sector is corrupt`,
    );
  const version = block[1];
  let scheme: Scheme;
  let keyBytes: number;
  let signatureBytes: number;
  if (version === VERSION_RSA) {
    scheme = "RSA-3072";
    keyBytes = RSA_KEY_BYTES;
    signatureBytes = RSA_BYTES;
  } else if (version === VERSION_ECDSA) {
    if (block[KEY_AT] !== CURVE_P256)
      throw formatError(
        `${where} is ECDSA on curve id ${block[KEY_AT]}; this agent verifies P-256 (curve id ${CURVE_P256})`,
      );
    scheme = "ECDSA P-256";
    keyBytes = ECDSA_KEY_BYTES;
    signatureBytes = 64;
  } else {
    throw formatError(
      `${where} has version ${version}; Secure Boot V2 blocks are 2 (RSA-3072) or 3 (ECDSA)`,
    );
  }
  const key = copyOf(block, KEY_AT, KEY_AT + keyBytes);
  return {
    index,
    scheme,
    imageDigest: copyOf(block, DIGEST_AT, DIGEST_AT + 32),
    key,
    keyDigest: keyDigestOf(key),
    signature: copyOf(block, KEY_AT + keyBytes, KEY_AT + keyBytes + signatureBytes),
  };
}

/**
 * The blocks of a 4096-byte Secure Boot V2 signature sector: block 0, then each following block
 * that starts with the magic byte. Throws "signature format: ..." when there is none or a block is
 * corrupt.
 */
export function parseSignatureSector(sector: Uint8Array): SignatureBlockV2[] {
  if (sector.length !== SECTOR_SIZE)
    throw formatError(`a signature sector is ${SECTOR_SIZE} bytes, got ${sector.length}`);
  if (sector[0] !== BLOCK_MAGIC)
    throw formatError(
      `the image does not end with a Secure Boot V2 signature sector (its last 4096 bytes start ` +
        `${toHex(sector.subarray(0, 4))}, not the magic byte e7); sign it with \`otaflow sign\` ` +
        "or `espsecure sign_data --version 2`",
    );
  const blocks: SignatureBlockV2[] = [];
  for (let index = 0; index < MAX_BLOCKS; index++) {
    if (sector[index * BLOCK_SIZE] !== BLOCK_MAGIC) break;
    blocks.push(parseBlock(sector, index));
  }
  return blocks;
}
