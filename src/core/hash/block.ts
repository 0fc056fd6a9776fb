import { otaError } from "../errors";
import type { Digest } from "../ports";
import { putUint32BE, putUint32LE } from "./int";

/**
 * The buffering shared by the block-oriented hashes. Whole blocks are hashed straight from the
 * caller's array; only a block split across two updates is copied, into `partial`.
 */
export abstract class BlockDigest implements Digest {
  /** The start of a block not yet complete. */
  protected readonly partial: Uint8Array;
  protected partialLength = 0;
  /** Bytes fed so far. */
  protected total = 0;
  private finished = false;

  constructor(private readonly blockSize: number) {
    this.partial = new Uint8Array(blockSize);
  }

  /** Hashes the whole blocks in data[start, end). */
  protected abstract blocks(data: Uint8Array, start: number, end: number): void;

  /** Hashes what is left in `partial` and returns the final value. */
  protected abstract finish(): Uint8Array;

  update(data: Uint8Array): void {
    if (this.finished) throw otaError("internal", "digest updated after its final value");
    const size = this.blockSize;
    const length = data.length;
    this.total += length;
    let at = 0;
    if (this.partialLength > 0) {
      at = Math.min(size - this.partialLength, length);
      this.partial.set(data.subarray(0, at), this.partialLength);
      this.partialLength += at;
      if (this.partialLength < size) return;
      this.blocks(this.partial, 0, size);
      this.partialLength = 0;
    }
    const end = length - ((length - at) % size);
    if (end > at) this.blocks(data, at, end);
    if (end < length) {
      this.partial.set(data.subarray(end), 0);
      this.partialLength = length - end;
    }
  }

  digest(): Uint8Array {
    if (this.finished) throw otaError("internal", "digest() called twice");
    this.finished = true;
    return this.finish();
  }

  /**
   * Merkle-Damgard padding (MD5, SHA-2): 0x80, zeros, and the message length in bits in the last
   * `lengthBytes` bytes of the final block (its top bytes stay 0: no image reaches 2^53 bytes).
   */
  protected pad(lengthBytes: number, littleEndian: boolean): void {
    const size = this.blockSize;
    const block = this.partial;
    let n = this.partialLength;
    block[n++] = 0x80;
    if (n > size - lengthBytes) {
      block.fill(0, n);
      this.blocks(block, 0, size);
      n = 0;
    }
    block.fill(0, n);
    const bitsLow = (this.total * 8) >>> 0;
    const bitsHigh = Math.floor(this.total / 0x20000000);
    if (littleEndian) {
      putUint32LE(block, size - 8, bitsLow);
      putUint32LE(block, size - 4, bitsHigh);
    } else {
      putUint32BE(block, size - 8, bitsHigh);
      putUint32BE(block, size - 4, bitsLow);
    }
    this.blocks(block, 0, size);
    this.partialLength = 0;
  }
}
