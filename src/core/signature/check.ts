// The signature check of an image as it streams, in the forms Espressif's tools write and AWS code
// signing sends:
// - the Secure Boot V2 signature sector (sector.ts): an image of a multiple of 4096 bytes whose
//   last 4096 are the sector, RSA-3072-PSS or ECDSA P-256, up to three blocks so that keys rotate;
// - the V1 trailer (`espsecure sign_data --version 1`): 68 bytes after the image, a uint32 0 then
//   r || s big-endian, ECDSA P-256 over the image's SHA-256;
// - afr_ota's detached `sig-sha256-ecdsa` in the offer, over the whole image.
// The sizes tell the appended forms apart from the first byte: an ESP-IDF image is a multiple of
// 16 bytes, so one with a V1 trailer never is a multiple of 4096. The bytes before the signature
// are hashed as they arrive and the check is judged before the image is staged; a failure says
// which of format, key, digest or signature did not match.
import { otaError } from "../errors";
import { createDigest } from "../hash/index";
import type { Digest, NativeDigests, NativeSignatures, SignatureStream } from "../ports";
import { base64Decode, toHex } from "../util/bytes";
import { signatureFromDer } from "./encoding";
import type { TrustedKey } from "./keys";
import { verifyP256 } from "./p256";
import {
  ecdsaSignatureOf,
  parseSignatureSector,
  SECTOR_SIZE,
  verifyBlock,
  type Scheme,
  type SignatureBlockV2,
} from "./sector";

export const V1_TRAILER_SIZE = 68;

/** What verified: the form, the key (hex of its SBv2 digest) and, in a sector, the block. */
export interface SignatureResult {
  form: "Secure Boot V2" | "V1 trailer" | "detached";
  scheme: Scheme;
  keyDigest: string;
  block?: number;
}

function invalid(message: string) {
  return otaError("signature-invalid", message);
}

function digestsOf(keys: TrustedKey[]): string {
  return keys.map((key) => key.digest).join(", ");
}

export class SignatureCheck {
  /** Bytes covered by the signature: the whole image, or everything before the sector or trailer. */
  readonly signedLength: number;
  private readonly form: SignatureResult["form"];
  private readonly detached: Uint8Array | undefined;
  private readonly digest: Digest;
  private readonly streams: (SignatureStream | undefined)[] = [];
  private readonly tail: Uint8Array;
  private position = 0;

  /**
   * `size`: the bytes the image will have; `detached`: the offer's base64 DER signature, if any.
   * Throws "signature format: ..." when the size can hold no signature.
   */
  constructor(
    size: number,
    detached: string | undefined,
    private readonly keys: TrustedKey[],
    nativeDigests?: NativeDigests,
    nativeSignatures?: NativeSignatures,
  ) {
    if (detached !== undefined) {
      const der = base64Decode(detached);
      if (!der) throw invalid("signature format: the offer's signature is not base64");
      this.detached = signatureFromDer(der);
      this.form = "detached";
      this.signedLength = size;
    } else if (size % SECTOR_SIZE === 0 && size > SECTOR_SIZE) {
      this.form = "Secure Boot V2";
      this.signedLength = size - SECTOR_SIZE;
    } else if (size > V1_TRAILER_SIZE) {
      this.form = "V1 trailer";
      this.signedLength = size - V1_TRAILER_SIZE;
    } else {
      throw invalid(
        `signature format: the offer carries no signature and its ${size} bytes cannot hold one`,
      );
    }
    this.tail = new Uint8Array(size - this.signedLength);
    this.digest = createDigest("sha256", nativeDigests);
    for (let i = 0; i < keys.length; i++) {
      const point = keys[i].point;
      this.streams.push(point && nativeSignatures ? nativeSignatures(point) : undefined);
    }
  }

  /** Fed every byte of the image, in order. */
  update(chunk: Uint8Array): void {
    const signed = Math.max(0, Math.min(chunk.length, this.signedLength - this.position));
    if (signed > 0) {
      const part = signed === chunk.length ? chunk : chunk.subarray(0, signed);
      this.digest.update(part);
      for (let i = 0; i < this.streams.length; i++) {
        const stream = this.streams[i];
        if (stream) stream.update(part);
      }
    }
    if (signed < chunk.length)
      this.tail.set(chunk.subarray(signed), this.position + signed - this.signedLength);
    this.position += chunk.length;
  }

  /** Throws signature-invalid, saying what did not match, unless a trusted key signed the image. */
  finish(): SignatureResult {
    const digest = this.digest.digest();
    if (this.form === "Secure Boot V2") return this.finishSector(digest);
    let signature = this.detached;
    if (!signature) {
      for (let i = 0; i < 4; i++)
        if (this.tail[i] !== 0)
          throw invalid(
            `signature format: the image ends with neither a Secure Boot V2 signature sector (its ` +
              `size ${this.position} is not a multiple of 4096) nor a V1 signature trailer (its ` +
              `last 68 bytes start ${toHex(this.tail.subarray(0, 4))}, not 00000000); sign it ` +
              "with `otaflow sign` or `espsecure sign_data`",
          );
      signature = this.tail.subarray(4);
    }
    const what = this.detached ? "the offer's signature" : "the V1 signature";
    let withPoints = 0;
    for (let i = 0; i < this.keys.length; i++) {
      if (!this.keys[i].point) continue;
      withPoints++;
      if (this.verifyEcdsa(i, digest, signature))
        return { form: this.form, scheme: "ECDSA P-256", keyDigest: this.keys[i].digest };
    }
    if (withPoints === 0)
      throw invalid(
        `signature key: ${what} names no key, and no trusted key (${digestsOf(this.keys)}) is ` +
          "given as an ECDSA P-256 public key, which this form needs",
      );
    throw invalid(
      `signature: ${what} does not verify over the image (SHA-256 ${toHex(digest)}) with any ` +
        `trusted key (${digestsOf(this.keys)}): it was made with another key or over other bytes`,
    );
  }

  private finishSector(digest: Uint8Array): SignatureResult {
    const blocks = parseSignatureSector(this.tail);
    const hex = toHex(digest);
    let changed: SignatureBlockV2 | undefined;
    let forged: SignatureBlockV2 | undefined;
    for (let b = 0; b < blocks.length; b++) {
      const block = blocks[b];
      const index = this.trusted(block.keyDigest);
      if (index < 0) continue;
      if (toHex(block.imageDigest) !== hex) {
        if (!changed) changed = block;
        continue;
      }
      const valid =
        block.scheme === "ECDSA P-256"
          ? this.verifyEcdsa(index, digest, ecdsaSignatureOf(block), block)
          : verifyBlock(block, digest);
      if (valid)
        return {
          form: this.form,
          scheme: block.scheme,
          keyDigest: block.keyDigest,
          block: block.index,
        };
      if (!forged) forged = block;
    }
    if (changed)
      throw invalid(
        `signature digest: the image's SHA-256 is ${hex} but signature block ${changed.index} ` +
          `(key ${changed.keyDigest}) was made over ${toHex(changed.imageDigest)}: the image ` +
          "changed after it was signed",
      );
    if (forged)
      throw invalid(
        `signature: block ${forged.index} names trusted key ${forged.keyDigest} and the right ` +
          `digest, but its ${forged.scheme} signature does not verify: it is forged or corrupt`,
      );
    const named = blocks.map(
      (block) => `${block.keyDigest} (block ${block.index}, ${block.scheme})`,
    );
    throw invalid(
      `signature key: the image is signed with key ${named.join(", ")}; this device trusts ` +
        digestsOf(this.keys),
    );
  }

  private trusted(keyDigest: string): number {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i].digest === keyDigest) return i;
    return -1;
  }

  /**
   * ECDSA P-256 over the signed bytes with trusted key `index`: its native stream the first time
   * (a stream verifies once), else the portable verifier with the key's point or the block's.
   */
  private verifyEcdsa(
    index: number,
    digest: Uint8Array,
    signature: Uint8Array,
    block?: SignatureBlockV2,
  ): boolean {
    const stream = this.streams[index];
    if (stream) {
      this.streams[index] = undefined;
      return stream.verify(signature);
    }
    const point = this.keys[index].point;
    if (point) return verifyP256(point, digest, signature);
    return block ? verifyBlock(block, digest) : false;
  }
}
