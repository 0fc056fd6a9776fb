// A streaming applier of detools "sequential" patches (detools/apply.py, c/detools.c), plain or in
// ESP-IDF's esp_delta_ota container. Layout of a sequential patch:
//   byte 0: patch type (bits 4-6, 0 = sequential) and compression (bits 0-3: 0 none, 4 heatshrink)
//   size: the target's length; then, through the decompressor (heatshrink: its header byte first,
//   window - 4 and lookahead - 3 in two nibbles):
//   size 0 (no data-format patch), then until the target is complete:
//   size n, n bytes added byte-wise to the base at the base offset (diff);
//   size m, m bytes copied (extra); signed size: the base offset moves by it (adjustment).
// Sizes: the first byte holds 6 bits and a sign (0x40), the next 7 bits each, 0x80 = more follows.
// The esp_delta_ota container puts 64 bytes first: magic 0xfccdde10 (little-endian), the SHA-256
// appended to the base image, 28 reserved bytes.
//
// The applier is pulled: pull() fills a buffer with target bytes and stops when the patch bytes it
// was given run out. It holds the decompressor's 256-byte history (heatshrink 8/7) and no more, and
// reads the base through a port in pieces no larger than the caller's buffer.
import { otaError } from "../errors";
import { HeatshrinkDecoder, type HeatshrinkState } from "./heatshrink";

export const CONTAINER_MAGIC = 0xfccdde10;
export const CONTAINER_HEADER_SIZE = 64;
export const COMPRESSION_NONE = 0;
export const COMPRESSION_HEATSHRINK = 4;
/** The largest heatshrink window accepted: 2^8 bytes of history, as esp_delta_ota is built. */
export const MAX_WINDOW_BITS = 8;

/** What a patch is wrapped in. */
export type PatchFormat = "esp_delta_ota" | "detools";

/** The running image, read where the patch says. */
export interface BaseReader {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

const CONTAINER = 0;
const FIXED = 1;
const TO_SIZE = 2;
const CODEC = 3;
const DF_SIZE = 4;
const DIFF_SIZE = 5;
const DIFF_DATA = 6;
const EXTRA_SIZE = 7;
const EXTRA_DATA = 8;
const ADJUSTMENT = 9;
const DONE = 10;

/** Everything needed to continue a patch from a point reached before. */
export interface PatchState {
  stage: number;
  compression: number;
  windowBits: number;
  lookaheadBits: number;
  toSize: number;
  toOffset: number;
  fromOffset: number;
  left: number;
  /** Patch bytes consumed, container header included: where the patch is fetched from on resume. */
  patchOffset: number;
  heatshrink: HeatshrinkState;
}

export function emptyPatchState(): PatchState {
  return {
    stage: CONTAINER,
    compression: 0,
    windowBits: 0,
    lookaheadBits: 0,
    toSize: 0,
    toOffset: 0,
    fromOffset: 0,
    left: 0,
    patchOffset: 0,
    heatshrink: {
      state: 0,
      bits: 0,
      bitCount: 0,
      distance: 0,
      count: 0,
      head: 0,
      history: new Uint8Array(1 << MAX_WINDOW_BITS),
    },
  };
}

function corrupt(message: string) {
  return otaError("delta-invalid", message);
}

/** compression none: the patch bytes themselves. */
class RawReader {
  private input: Uint8Array | undefined;
  private at = 0;
  consumed = 0;
  readonly pendingOutput = 0;

  feed(input: Uint8Array, at: number): void {
    this.input = input;
    this.at = at;
  }

  get inputOffset(): number {
    return this.at;
  }

  decode(out: Uint8Array, at: number, max: number): number {
    const input = this.input;
    if (input === undefined) return 0;
    let n = input.length - this.at;
    if (n > max) n = max;
    out.set(input.subarray(this.at, this.at + n), at);
    this.at += n;
    this.consumed += n;
    return n;
  }
}

type Reader = RawReader | HeatshrinkDecoder;

export interface PatchOptions {
  format: PatchFormat;
  /** The SHA-256 appended to the running image; the container's must equal it. */
  baseSha256?: Uint8Array;
}

export class PatchApplier {
  private stage: number;
  private compression = 0;
  private windowBits = 0;
  private lookaheadBits = 0;
  private toSize = -1;
  private toOffset = 0;
  private fromOffset = 0;
  private left = 0;
  private reader: Reader | undefined;
  /** Patch bytes consumed before the reader took over, and bytes the reader had consumed before a restore. */
  private consumedBefore = 0;
  private input: Uint8Array | undefined;
  private inputAt = 0;
  /** A size being read, byte by byte. */
  private sizeValue = 0;
  private sizeScale = 0;
  private sizeSigned = false;
  private sizeActive = false;
  private readonly one = new Uint8Array(1);
  private readonly header = new Uint8Array(36);

  constructor(
    private readonly base: BaseReader,
    private readonly options: PatchOptions,
  ) {
    this.stage = options.format === "esp_delta_ota" ? CONTAINER : FIXED;
  }

  /** The target's size, once the patch header has said it; -1 before. */
  get targetSize(): number {
    return this.toSize;
  }

  get targetOffset(): number {
    return this.toOffset;
  }

  get done(): boolean {
    return this.stage === DONE;
  }

  /** Patch bytes consumed so far. */
  get patchOffset(): number {
    return this.consumedBefore + (this.reader ? this.reader.consumed : 0);
  }

  /** Hands over the next patch bytes; the previous ones must have been used up (needsInput). */
  feed(chunk: Uint8Array): void {
    if (this.stage === DONE && chunk.length > 0)
      throw corrupt("the patch continues past the end of its target");
    this.input = chunk;
    this.inputAt = 0;
    if (this.reader) this.reader.feed(chunk, 0);
  }

  /** Whether pull() stopped for want of patch bytes. */
  get needsInput(): boolean {
    if (this.stage === DONE) return false;
    const input = this.input;
    if (input === undefined) return true;
    return (this.reader ? this.reader.inputOffset : this.inputAt) >= input.length;
  }

  /**
   * Fills out[0..] with up to out.length target bytes and gives how many; fewer (maybe 0) when the
   * patch bytes fed so far are used up or the target is complete.
   */
  async pull(out: Uint8Array, max: number): Promise<number> {
    let produced = 0;
    while (produced < max) {
      const stage = this.stage;
      if (stage === DONE) break;
      if (stage < DF_SIZE) {
        if (!this.header_()) break;
        continue;
      }
      if (stage === DIFF_DATA || stage === EXTRA_DATA) {
        if (this.left === 0) {
          this.stage = stage === DIFF_DATA ? EXTRA_SIZE : ADJUSTMENT;
          continue;
        }
        const want = Math.min(this.left, max - produced);
        const n = (this.reader as Reader).decode(out, produced, want);
        if (n === 0) break;
        if (stage === DIFF_DATA) {
          if (this.fromOffset < 0 || this.fromOffset + n > this.base.size)
            throw corrupt(`the patch reads the base at ${this.fromOffset}, beyond its end`);
          const from = await this.base.read(this.fromOffset, n);
          for (let i = 0; i < n; i++) out[produced + i] = (out[produced + i] + from[i]) & 255;
          this.fromOffset += n;
        }
        this.left -= n;
        this.toOffset += n;
        produced += n;
        continue;
      }
      const size = this.readSize();
      if (size === undefined) break;
      if (stage === DF_SIZE) {
        if (size !== 0) throw unsupported("data-format patches (--data-format) are not supported");
        this.stage = DIFF_SIZE;
      } else if (stage === DIFF_SIZE || stage === EXTRA_SIZE) {
        if (size < 0 || this.toOffset + size > this.toSize)
          throw corrupt(`patch ${stage === DIFF_SIZE ? "diff" : "extra"} data too long`);
        this.left = size;
        this.stage = stage === DIFF_SIZE ? DIFF_DATA : EXTRA_DATA;
      } else {
        this.fromOffset += size;
        this.stage = this.toOffset === this.toSize ? DONE : DIFF_SIZE;
      }
    }
    return produced;
  }

  /** Judges the end of the patch: every target byte made and no decoded data left over. */
  finish(): void {
    if (this.stage !== DONE)
      throw corrupt(`the patch ended at target byte ${this.toOffset} of ${this.toSize}`);
    if (this.reader && this.reader.pendingOutput > 0)
      throw corrupt("the patch holds data past the end of its target");
    const input = this.input;
    const at = this.reader ? this.reader.inputOffset : this.inputAt;
    if (input !== undefined && at < input.length)
      throw corrupt("the patch continues past the end of its target");
  }

  /** Copies the state into `into`; valid between two pull() calls. */
  save(into: PatchState): void {
    into.stage = this.stage;
    into.compression = this.compression;
    into.windowBits = this.windowBits;
    into.lookaheadBits = this.lookaheadBits;
    into.toSize = this.toSize;
    into.toOffset = this.toOffset;
    into.fromOffset = this.fromOffset;
    into.left = this.left;
    into.patchOffset = this.patchOffset;
    if (this.reader instanceof HeatshrinkDecoder) this.reader.save(into.heatshrink);
  }

  /** Continues from a saved state; the patch is then fed from state.patchOffset. */
  restore(state: PatchState): void {
    if (state.stage !== DIFF_DATA && state.stage !== EXTRA_DATA)
      throw corrupt("a patch resumes only inside its data");
    this.useReader(state.compression, state.windowBits, state.lookaheadBits);
    this.stage = state.stage;
    this.toSize = state.toSize;
    this.toOffset = state.toOffset;
    this.fromOffset = state.fromOffset;
    this.left = state.left;
    this.consumedBefore = state.patchOffset;
    if (this.reader instanceof HeatshrinkDecoder) this.reader.restore(state.heatshrink);
  }

  private useReader(compression: number, windowBits: number, lookaheadBits: number): void {
    this.compression = compression;
    this.windowBits = windowBits;
    this.lookaheadBits = lookaheadBits;
    if (compression === COMPRESSION_NONE) {
      this.reader = new RawReader();
    } else {
      if (windowBits > MAX_WINDOW_BITS)
        throw unsupported(`heatshrink window of ${windowBits} bits (at most ${MAX_WINDOW_BITS})`);
      if (this.options.format === "esp_delta_ota" && (windowBits !== 8 || lookaheadBits !== 7))
        throw unsupported(
          `esp_delta_ota takes heatshrink window 8, lookahead 7, not ${windowBits}, ${lookaheadBits}`,
        );
      this.reader = new HeatshrinkDecoder(windowBits, lookaheadBits);
    }
  }

  /** The uncompressed part: container header, patch type, target size, codec header. */
  private header_(): boolean {
    const input = this.input;
    if (input === undefined) return false;
    if (this.stage === TO_SIZE) {
      const size = this.readSize();
      if (size === undefined) return false;
      if (size < 0) throw corrupt("negative target size");
      this.toSize = size;
      if (this.compression === COMPRESSION_NONE) {
        this.useReader(COMPRESSION_NONE, 0, 0);
        this.handOver();
        this.stage = size === 0 ? DONE : DF_SIZE;
      } else {
        this.stage = size === 0 ? DONE : CODEC;
      }
      return true;
    }
    if (this.inputAt >= input.length) return false;
    const byte = input[this.inputAt++];
    this.consumedBefore++;
    if (this.stage === CONTAINER) {
      const at = this.consumedBefore - 1;
      if (at < 36) this.header[at] = byte;
      if (at === 35) this.checkContainer();
      if (this.consumedBefore === CONTAINER_HEADER_SIZE) this.stage = FIXED;
    } else if (this.stage === FIXED) {
      const type = (byte >> 4) & 7;
      const compression = byte & 15;
      if (type !== 0) throw unsupported(`detools patch type ${type} (only sequential, 0)`);
      if (compression !== COMPRESSION_HEATSHRINK) {
        if (compression !== COMPRESSION_NONE)
          throw unsupported(`detools compression ${compression} (none 0 and heatshrink 4 only)`);
        if (this.options.format === "esp_delta_ota")
          throw unsupported("esp_delta_ota takes heatshrink patches only, not compression none");
      }
      this.compression = compression;
      this.stage = TO_SIZE;
    } else {
      this.useReader(COMPRESSION_HEATSHRINK, (byte >> 4) + 4, (byte & 15) + 3);
      this.handOver();
      this.stage = DF_SIZE;
    }
    return true;
  }

  private handOver(): void {
    const reader = this.reader as Reader;
    if (this.input) reader.feed(this.input, this.inputAt);
  }

  private checkContainer(): void {
    const h = this.header;
    const magic = (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0;
    if (magic !== CONTAINER_MAGIC)
      throw corrupt(`not an esp_delta_ota patch (magic 0x${magic.toString(16)})`);
    const base = this.options.baseSha256;
    if (!base) throw otaError("delta-base-mismatch", "the running image's SHA-256 is unknown");
    for (let i = 0; i < 32; i++) {
      if (base[i] !== h[4 + i])
        throw otaError(
          "delta-base-mismatch",
          "the patch was made for another base image than the running one",
        );
    }
  }

  /** A detools size, from the raw input (header) or the decompressor; undefined: more input needed. */
  private readSize(): number | undefined {
    for (;;) {
      let byte: number;
      if (this.reader) {
        if (this.reader.decode(this.one, 0, 1) === 0) return undefined;
        byte = this.one[0];
      } else {
        const input = this.input as Uint8Array;
        if (this.inputAt >= input.length) return undefined;
        byte = input[this.inputAt++];
        this.consumedBefore++;
      }
      if (!this.sizeActive) {
        this.sizeActive = true;
        this.sizeSigned = (byte & 0x40) !== 0;
        this.sizeValue = byte & 0x3f;
        this.sizeScale = 64;
      } else {
        if (this.sizeScale > 0x40000000000) throw corrupt("a size in the patch overflows");
        this.sizeValue += (byte & 0x7f) * this.sizeScale;
        this.sizeScale *= 128;
      }
      if ((byte & 0x80) === 0) {
        this.sizeActive = false;
        return this.sizeSigned ? -this.sizeValue : this.sizeValue;
      }
    }
  }
}

function unsupported(message: string) {
  return otaError("delta-unsupported", message);
}
