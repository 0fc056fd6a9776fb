// A heatshrink decoder (LZSS, bit-packed, as atomicobject/heatshrink encodes): a tag bit, then an
// 8-bit literal (tag 1) or a back-reference (tag 0) of `window` bits of distance - 1 and
// `lookahead` bits of length - 1, most significant bit first. It pulls bytes from the input it is
// given and stops when they run out, so a patch can arrive in pieces of any size; its whole state
// (a few numbers and the 2^window-byte history) can be saved and restored for a resume.
import { otaError } from "../errors";

const TAG = 0;
const LITERAL = 1;
const INDEX = 2;
const COUNT = 3;
const BACKREF = 4;

/** The pieces of a decoder's state, for a resume after a power cut. */
export interface HeatshrinkState {
  state: number;
  bits: number;
  bitCount: number;
  distance: number;
  count: number;
  head: number;
  /** The history, oldest byte at head & mask. */
  history: Uint8Array;
}

export class HeatshrinkDecoder {
  private readonly history: Uint8Array;
  private readonly mask: number;
  private state = TAG;
  /** Bits pulled from the input and not yet used, the oldest most significant. */
  private bits = 0;
  private bitCount = 0;
  private distance = 0;
  private count = 0;
  private head = 0;
  private input: Uint8Array | undefined;
  private inputAt = 0;
  /** Input bytes pulled into `bits` since the decoder was made or restored. */
  consumed = 0;

  constructor(
    readonly windowBits: number,
    readonly lookaheadBits: number,
  ) {
    if (windowBits < 4 || windowBits > 15 || lookaheadBits < 3 || lookaheadBits >= windowBits)
      throw otaError(
        "delta-invalid",
        `heatshrink window ${windowBits}, lookahead ${lookaheadBits}`,
      );
    this.history = new Uint8Array(1 << windowBits);
    this.mask = (1 << windowBits) - 1;
  }

  /** Gives the decoder input; bytes of it it has not used are returned by pendingInput(). */
  feed(input: Uint8Array, at: number): void {
    this.input = input;
    this.inputAt = at;
  }

  /** Where the decoder stopped in the input it was fed. */
  get inputOffset(): number {
    return this.inputAt;
  }

  /** A back-reference still to be copied: decoded data the caller has not taken. */
  get pendingOutput(): number {
    return this.state === BACKREF ? this.count : 0;
  }

  /** Decodes up to `max` bytes into out[at...]; fewer when the input runs out. */
  decode(out: Uint8Array, at: number, max: number): number {
    const history = this.history;
    const mask = this.mask;
    let produced = 0;
    while (produced < max) {
      if (this.state === BACKREF) {
        let n = this.count;
        if (n > max - produced) n = max - produced;
        const distance = this.distance;
        let head = this.head;
        for (let i = 0; i < n; i++) {
          const c = history[(head - distance) & mask];
          history[head & mask] = c;
          head++;
          out[at + produced + i] = c;
        }
        this.head = head & 0xffff;
        produced += n;
        this.count -= n;
        if (this.count === 0) this.state = TAG;
        continue;
      }
      const need =
        this.state === TAG
          ? 1
          : this.state === LITERAL
            ? 8
            : this.state === INDEX
              ? this.windowBits
              : this.lookaheadBits;
      while (this.bitCount < need) {
        const input = this.input;
        if (input === undefined || this.inputAt >= input.length) return produced;
        this.bits = (this.bits << 8) | input[this.inputAt++];
        this.bitCount += 8;
        this.consumed++;
      }
      this.bitCount -= need;
      const value = (this.bits >> this.bitCount) & ((1 << need) - 1);
      this.bits &= (1 << this.bitCount) - 1;
      if (this.state === TAG) {
        this.state = value === 1 ? LITERAL : INDEX;
      } else if (this.state === LITERAL) {
        history[this.head & mask] = value;
        this.head = (this.head + 1) & 0xffff;
        out[at + produced++] = value;
        this.state = TAG;
      } else if (this.state === INDEX) {
        this.distance = value + 1;
        this.state = COUNT;
      } else {
        this.count = value + 1;
        this.state = BACKREF;
      }
    }
    return produced;
  }

  save(into: HeatshrinkState): void {
    into.state = this.state;
    into.bits = this.bits;
    into.bitCount = this.bitCount;
    into.distance = this.distance;
    into.count = this.count;
    into.head = this.head;
    into.history.set(this.history);
  }

  restore(from: HeatshrinkState): void {
    if (from.history.length !== this.history.length || from.state < TAG || from.state > BACKREF)
      throw otaError("delta-invalid", "saved heatshrink state does not fit this decoder");
    this.state = from.state;
    this.bits = from.bits;
    this.bitCount = from.bitCount;
    this.distance = from.distance;
    this.count = from.count;
    this.head = from.head;
    this.history.set(from.history);
  }
}
