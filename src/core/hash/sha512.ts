import { BlockDigest } from "./block";
import { putUint32BE } from "./int";
import { IV_SHA384, IV_SHA512, K_HIGH, K_LOW } from "./sha2-constants";

// 64-bit words are pairs of 32-bit halves (no BigInt on Espruino): the high half as a signed
// int32, the low half unsigned. A sum of low halves stays exact in a double below 2^53, and its
// carry into the high half is the quotient by 2^32.
const TWO_32 = 4294967296;

/** SHA-512 (FIPS 180-4), and SHA-384 through its initial value and output length. */
class Sha512Family extends BlockDigest {
  /** a..h as high, low pairs. */
  private readonly state = new Int32Array(16);
  private readonly wHigh = new Int32Array(80);
  private readonly wLow = new Uint32Array(80);

  constructor(
    iv: number[],
    private readonly outputLength: number,
  ) {
    super(128);
    for (let i = 0; i < 16; i++) this.state[i] = iv[i];
  }

  protected blocks(data: Uint8Array, start: number, end: number): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const wh = this.wHigh;
    const wl = this.wLow;
    const s = this.state;
    for (let i = start; i < end; i += 128) {
      for (let j = 0; j < 16; j++) {
        wh[j] = view.getInt32(i + 8 * j);
        wl[j] = view.getUint32(i + 8 * j + 4);
      }
      for (let j = 16; j < 80; j++) {
        // sigma0 = rotr 1 ^ rotr 8 ^ shr 7 of w[j-15]; sigma1 = rotr 19 ^ rotr 61 ^ shr 6 of w[j-2].
        let xh = wh[j - 15];
        let xl = wl[j - 15];
        const s0h = ((xh >>> 1) | (xl << 31)) ^ ((xh >>> 8) | (xl << 24)) ^ (xh >>> 7);
        const s0l =
          ((xl >>> 1) | (xh << 31)) ^ ((xl >>> 8) | (xh << 24)) ^ ((xl >>> 7) | (xh << 25));
        xh = wh[j - 2];
        xl = wl[j - 2];
        const s1h = ((xh >>> 19) | (xl << 13)) ^ ((xl >>> 29) | (xh << 3)) ^ (xh >>> 6);
        const s1l =
          ((xl >>> 19) | (xh << 13)) ^ ((xh >>> 29) | (xl << 3)) ^ ((xl >>> 6) | (xh << 26));
        const low = (s0l >>> 0) + (s1l >>> 0) + wl[j - 7] + wl[j - 16];
        wl[j] = low;
        wh[j] = s0h + s1h + wh[j - 7] + wh[j - 16] + ((low / TWO_32) | 0);
      }
      let ah = s[0];
      let al = s[1];
      let bh = s[2];
      let bl = s[3];
      let ch = s[4];
      let cl = s[5];
      let dh = s[6];
      let dl = s[7];
      let eh = s[8];
      let el = s[9];
      let fh = s[10];
      let fl = s[11];
      let gh = s[12];
      let gl = s[13];
      let hh = s[14];
      let hl = s[15];
      for (let j = 0; j < 80; j++) {
        // t1 = h + Sigma1(e) + Ch(e, f, g) + k[j] + w[j], Sigma1 = rotr 14 ^ rotr 18 ^ rotr 41.
        const sigma1h =
          ((eh >>> 14) | (el << 18)) ^ ((eh >>> 18) | (el << 14)) ^ ((el >>> 9) | (eh << 23));
        const sigma1l =
          ((el >>> 14) | (eh << 18)) ^ ((el >>> 18) | (eh << 14)) ^ ((eh >>> 9) | (el << 23));
        const chooseh = gh ^ (eh & (fh ^ gh));
        const choosel = gl ^ (el & (fl ^ gl));
        const t1l = (hl >>> 0) + (sigma1l >>> 0) + (choosel >>> 0) + K_LOW[j] + wl[j];
        const t1h = hh + sigma1h + chooseh + K_HIGH[j] + wh[j] + ((t1l / TWO_32) | 0);
        // t2 = Sigma0(a) + Maj(a, b, c), Sigma0 = rotr 28 ^ rotr 34 ^ rotr 39.
        const sigma0h =
          ((ah >>> 28) | (al << 4)) ^ ((al >>> 2) | (ah << 30)) ^ ((al >>> 7) | (ah << 25));
        const sigma0l =
          ((al >>> 28) | (ah << 4)) ^ ((ah >>> 2) | (al << 30)) ^ ((ah >>> 7) | (al << 25));
        const majorityh = (ah & bh) | (ch & (ah | bh));
        const majorityl = (al & bl) | (cl & (al | bl));
        const t2l = (sigma0l >>> 0) + (majorityl >>> 0);
        const t2h = sigma0h + majorityh + ((t2l / TWO_32) | 0);
        hh = gh;
        hl = gl;
        gh = fh;
        gl = fl;
        fh = eh;
        fl = el;
        const newEl = (dl >>> 0) + (t1l >>> 0);
        eh = (dh + t1h + ((newEl / TWO_32) | 0)) | 0;
        el = newEl | 0;
        dh = ch;
        dl = cl;
        ch = bh;
        cl = bl;
        bh = ah;
        bl = al;
        const newAl = (t1l >>> 0) + (t2l >>> 0);
        ah = (t1h + t2h + ((newAl / TWO_32) | 0)) | 0;
        al = newAl | 0;
      }
      this.add(0, ah, al);
      this.add(2, bh, bl);
      this.add(4, ch, cl);
      this.add(6, dh, dl);
      this.add(8, eh, el);
      this.add(10, fh, fl);
      this.add(12, gh, gl);
      this.add(14, hh, hl);
    }
  }

  /** state[at, at + 1] += (high, low). */
  private add(at: number, high: number, low: number): void {
    const s = this.state;
    const sum = (s[at + 1] >>> 0) + (low >>> 0);
    s[at] = s[at] + high + ((sum / TWO_32) | 0);
    s[at + 1] = sum;
  }

  protected finish(): Uint8Array {
    this.pad(16, false);
    const out = new Uint8Array(this.outputLength);
    for (let i = 0; i < this.outputLength / 4; i++) putUint32BE(out, 4 * i, this.state[i]);
    return out;
  }
}

export class Sha512 extends Sha512Family {
  constructor() {
    super(IV_SHA512, 64);
  }
}

export class Sha384 extends Sha512Family {
  constructor() {
    super(IV_SHA384, 48);
  }
}
