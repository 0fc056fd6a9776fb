// The signature check of an image as it streams: ECDSA P-256 over SHA-256, either detached in the
// offer (AWS code signing's `sig-sha256-ecdsa`) or in the block appended to the image. The check
// is judged before the image is staged, and a failure says which of key, digest or format did not
// match, since that is what users of the other agents cannot tell apart.
import { otaError } from "../errors";
import { createDigest } from "../hash/index";
import type { Offer } from "../offer";
import type { Digest, NativeDigests, NativeSignatures, SignatureStream } from "../ports";
import { base64Decode, toHex } from "../util/bytes";
import { SIGNATURE_BLOCK_SIZE, keyId, parseSignatureBlock } from "./block";
import { publicKeyFromText, signatureFromDer } from "./encoding";
import { verifyP256 } from "./p256";

/** A public key the firmware trusts, with the id signature blocks name it by. */
export interface TrustedKey {
  point: Uint8Array;
  id: string;
}

/** Parses the configured keys (PEM, certificate or hex); throws at start-up on a bad one. */
export function trustedKeys(texts: string[]): TrustedKey[] {
  const keys: TrustedKey[] = [];
  for (let i = 0; i < texts.length; i++) {
    const point = publicKeyFromText(texts[i]);
    keys.push({ point, id: toHex(keyId(point)) });
  }
  return keys;
}

function invalid(message: string) {
  return otaError("signature-invalid", message);
}

function idsOf(keys: TrustedKey[]): string {
  return keys.map((key) => key.id).join(", ");
}

export class SignatureCheck {
  /** Bytes covered by the signature: the whole image, or everything before the block. */
  readonly signedLength: number;
  private readonly detached: Uint8Array | undefined;
  private readonly digest: Digest;
  private readonly streams: (SignatureStream | undefined)[] = [];
  private readonly block = new Uint8Array(SIGNATURE_BLOCK_SIZE);
  private position = 0;

  constructor(
    offer: Offer,
    private readonly keys: TrustedKey[],
    nativeDigests?: NativeDigests,
    nativeSignatures?: NativeSignatures,
  ) {
    if (offer.signature) {
      const der = base64Decode(offer.signature.value);
      if (!der) throw invalid("signature format: the offer's signature is not base64");
      this.detached = signatureFromDer(der);
      this.signedLength = offer.size;
    } else {
      if (offer.size <= SIGNATURE_BLOCK_SIZE)
        throw invalid(
          `signature format: the offer carries no signature and its ${offer.size} bytes cannot hold a signature block`,
        );
      this.signedLength = offer.size - SIGNATURE_BLOCK_SIZE;
    }
    this.digest = createDigest("sha256", nativeDigests);
    for (let i = 0; i < keys.length; i++)
      this.streams.push(nativeSignatures ? nativeSignatures(keys[i].point) : undefined);
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
      this.block.set(chunk.subarray(signed), this.position + signed - this.signedLength);
    this.position += chunk.length;
  }

  /** Throws signature-invalid, saying what did not match, unless a trusted key signed the image. */
  finish(): void {
    const digest = this.digest.digest();
    if (this.detached) {
      for (let i = 0; i < this.keys.length; i++) {
        if (this.verify(i, digest, this.detached)) return;
      }
      throw invalid(
        `signature: the offer's signature does not verify over the image (SHA-256 ${toHex(digest)}) with ` +
          `any trusted key (${idsOf(this.keys)}): it was made with another key or over other bytes`,
      );
    }
    const block = parseSignatureBlock(this.block);
    const id = toHex(block.keyId);
    let index = -1;
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i].id === id) index = i;
    if (index < 0)
      throw invalid(
        `signature key: the image is signed with key ${id}; this device trusts ${idsOf(this.keys)}`,
      );
    if (toHex(block.digest) !== toHex(digest))
      throw invalid(
        `signature digest: the image's SHA-256 is ${toHex(digest)} but it was signed as ` +
          `${toHex(block.digest)}: the image changed after it was signed`,
      );
    if (!this.verify(index, digest, block.signature))
      throw invalid(
        `signature: the block names key ${id} and the right digest, but its signature does not ` +
          "verify: it is forged or corrupt",
      );
  }

  private verify(index: number, digest: Uint8Array, signature: Uint8Array): boolean {
    const stream = this.streams[index];
    return stream
      ? stream.verify(signature)
      : verifyP256(this.keys[index].point, digest, signature);
  }
}
