import { BlockDigest } from "./block";
import { putUint32LE } from "./int";

/**
 * MD5 (RFC 1321), the seeds' checksum. The 64 steps are unrolled and the 16 message words live
 * in locals: no allocation per block and no array access per step. Each step is one expression
 * (its sum assigned and rotated in place) and ends reduced to 32 bits: XS keeps such values as
 * integers, and in XS's wall-clock time that beats the form with fewer operations that leaves
 * the sums unreduced (doubles) until the end of the block (docs/BENCHMARKS.md, XS counts).
 */

/** Whether an Int32Array reads a word little-endian here, as MD5 wants it. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class Md5 extends BlockDigest {
  private a = 0x67452301;
  private b = 0xefcdab89 | 0;
  private c = 0x98badcfe | 0;
  private d = 0x10325476;

  constructor() {
    super(64);
  }

  protected blocks(data: Uint8Array, start: number, end: number): void {
    // Whole words are read through an Int32Array where the block is aligned on this (little-endian)
    // engine: one indexed read in place of a method call on a DataView.
    const aligned = LITTLE_ENDIAN && ((data.byteOffset + start) & 3) === 0;
    const words = aligned
      ? new Int32Array(data.buffer, data.byteOffset + start, (end - start) >> 2)
      : undefined;
    const view = aligned ? undefined : new DataView(data.buffer, data.byteOffset, data.byteLength);
    let k = 0;
    let a = this.a;
    let b = this.b;
    let c = this.c;
    let d = this.d;
    let x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15: number;
    for (let i = start; i < end; i += 64) {
      const a0 = a;
      const b0 = b;
      const c0 = c;
      const d0 = d;
      if (words) {
        x0 = words[k];
        x1 = words[k + 1];
        x2 = words[k + 2];
        x3 = words[k + 3];
        x4 = words[k + 4];
        x5 = words[k + 5];
        x6 = words[k + 6];
        x7 = words[k + 7];
        x8 = words[k + 8];
        x9 = words[k + 9];
        x10 = words[k + 10];
        x11 = words[k + 11];
        x12 = words[k + 12];
        x13 = words[k + 13];
        x14 = words[k + 14];
        x15 = words[k + 15];
        k += 16;
      } else {
        x0 = view!.getInt32(i, true);
        x1 = view!.getInt32(i + 4, true);
        x2 = view!.getInt32(i + 8, true);
        x3 = view!.getInt32(i + 12, true);
        x4 = view!.getInt32(i + 16, true);
        x5 = view!.getInt32(i + 20, true);
        x6 = view!.getInt32(i + 24, true);
        x7 = view!.getInt32(i + 28, true);
        x8 = view!.getInt32(i + 32, true);
        x9 = view!.getInt32(i + 36, true);
        x10 = view!.getInt32(i + 40, true);
        x11 = view!.getInt32(i + 44, true);
        x12 = view!.getInt32(i + 48, true);
        x13 = view!.getInt32(i + 52, true);
        x14 = view!.getInt32(i + 56, true);
        x15 = view!.getInt32(i + 60, true);
      }
      // Round 1.
      a = ((((a = a + (d ^ (b & (c ^ d))) + x0 - 680876936) << 7) | (a >>> 25)) + b) | 0;
      d = ((((d = d + (c ^ (a & (b ^ c))) + x1 - 389564586) << 12) | (d >>> 20)) + a) | 0;
      c = ((((c = c + (b ^ (d & (a ^ b))) + x2 + 606105819) << 17) | (c >>> 15)) + d) | 0;
      b = ((((b = b + (a ^ (c & (d ^ a))) + x3 - 1044525330) << 22) | (b >>> 10)) + c) | 0;
      a = ((((a = a + (d ^ (b & (c ^ d))) + x4 - 176418897) << 7) | (a >>> 25)) + b) | 0;
      d = ((((d = d + (c ^ (a & (b ^ c))) + x5 + 1200080426) << 12) | (d >>> 20)) + a) | 0;
      c = ((((c = c + (b ^ (d & (a ^ b))) + x6 - 1473231341) << 17) | (c >>> 15)) + d) | 0;
      b = ((((b = b + (a ^ (c & (d ^ a))) + x7 - 45705983) << 22) | (b >>> 10)) + c) | 0;
      a = ((((a = a + (d ^ (b & (c ^ d))) + x8 + 1770035416) << 7) | (a >>> 25)) + b) | 0;
      d = ((((d = d + (c ^ (a & (b ^ c))) + x9 - 1958414417) << 12) | (d >>> 20)) + a) | 0;
      c = ((((c = c + (b ^ (d & (a ^ b))) + x10 - 42063) << 17) | (c >>> 15)) + d) | 0;
      b = ((((b = b + (a ^ (c & (d ^ a))) + x11 - 1990404162) << 22) | (b >>> 10)) + c) | 0;
      a = ((((a = a + (d ^ (b & (c ^ d))) + x12 + 1804603682) << 7) | (a >>> 25)) + b) | 0;
      d = ((((d = d + (c ^ (a & (b ^ c))) + x13 - 40341101) << 12) | (d >>> 20)) + a) | 0;
      c = ((((c = c + (b ^ (d & (a ^ b))) + x14 - 1502002290) << 17) | (c >>> 15)) + d) | 0;
      b = ((((b = b + (a ^ (c & (d ^ a))) + x15 + 1236535329) << 22) | (b >>> 10)) + c) | 0;
      // Round 2.
      a = ((((a = a + (c ^ (d & (b ^ c))) + x1 - 165796510) << 5) | (a >>> 27)) + b) | 0;
      d = ((((d = d + (b ^ (c & (a ^ b))) + x6 - 1069501632) << 9) | (d >>> 23)) + a) | 0;
      c = ((((c = c + (a ^ (b & (d ^ a))) + x11 + 643717713) << 14) | (c >>> 18)) + d) | 0;
      b = ((((b = b + (d ^ (a & (c ^ d))) + x0 - 373897302) << 20) | (b >>> 12)) + c) | 0;
      a = ((((a = a + (c ^ (d & (b ^ c))) + x5 - 701558691) << 5) | (a >>> 27)) + b) | 0;
      d = ((((d = d + (b ^ (c & (a ^ b))) + x10 + 38016083) << 9) | (d >>> 23)) + a) | 0;
      c = ((((c = c + (a ^ (b & (d ^ a))) + x15 - 660478335) << 14) | (c >>> 18)) + d) | 0;
      b = ((((b = b + (d ^ (a & (c ^ d))) + x4 - 405537848) << 20) | (b >>> 12)) + c) | 0;
      a = ((((a = a + (c ^ (d & (b ^ c))) + x9 + 568446438) << 5) | (a >>> 27)) + b) | 0;
      d = ((((d = d + (b ^ (c & (a ^ b))) + x14 - 1019803690) << 9) | (d >>> 23)) + a) | 0;
      c = ((((c = c + (a ^ (b & (d ^ a))) + x3 - 187363961) << 14) | (c >>> 18)) + d) | 0;
      b = ((((b = b + (d ^ (a & (c ^ d))) + x8 + 1163531501) << 20) | (b >>> 12)) + c) | 0;
      a = ((((a = a + (c ^ (d & (b ^ c))) + x13 - 1444681467) << 5) | (a >>> 27)) + b) | 0;
      d = ((((d = d + (b ^ (c & (a ^ b))) + x2 - 51403784) << 9) | (d >>> 23)) + a) | 0;
      c = ((((c = c + (a ^ (b & (d ^ a))) + x7 + 1735328473) << 14) | (c >>> 18)) + d) | 0;
      b = ((((b = b + (d ^ (a & (c ^ d))) + x12 - 1926607734) << 20) | (b >>> 12)) + c) | 0;
      // Round 3.
      a = ((((a = a + (b ^ c ^ d) + x5 - 378558) << 4) | (a >>> 28)) + b) | 0;
      d = ((((d = d + (a ^ b ^ c) + x8 - 2022574463) << 11) | (d >>> 21)) + a) | 0;
      c = ((((c = c + (d ^ a ^ b) + x11 + 1839030562) << 16) | (c >>> 16)) + d) | 0;
      b = ((((b = b + (c ^ d ^ a) + x14 - 35309556) << 23) | (b >>> 9)) + c) | 0;
      a = ((((a = a + (b ^ c ^ d) + x1 - 1530992060) << 4) | (a >>> 28)) + b) | 0;
      d = ((((d = d + (a ^ b ^ c) + x4 + 1272893353) << 11) | (d >>> 21)) + a) | 0;
      c = ((((c = c + (d ^ a ^ b) + x7 - 155497632) << 16) | (c >>> 16)) + d) | 0;
      b = ((((b = b + (c ^ d ^ a) + x10 - 1094730640) << 23) | (b >>> 9)) + c) | 0;
      a = ((((a = a + (b ^ c ^ d) + x13 + 681279174) << 4) | (a >>> 28)) + b) | 0;
      d = ((((d = d + (a ^ b ^ c) + x0 - 358537222) << 11) | (d >>> 21)) + a) | 0;
      c = ((((c = c + (d ^ a ^ b) + x3 - 722521979) << 16) | (c >>> 16)) + d) | 0;
      b = ((((b = b + (c ^ d ^ a) + x6 + 76029189) << 23) | (b >>> 9)) + c) | 0;
      a = ((((a = a + (b ^ c ^ d) + x9 - 640364487) << 4) | (a >>> 28)) + b) | 0;
      d = ((((d = d + (a ^ b ^ c) + x12 - 421815835) << 11) | (d >>> 21)) + a) | 0;
      c = ((((c = c + (d ^ a ^ b) + x15 + 530742520) << 16) | (c >>> 16)) + d) | 0;
      b = ((((b = b + (c ^ d ^ a) + x2 - 995338651) << 23) | (b >>> 9)) + c) | 0;
      // Round 4.
      a = ((((a = a + (c ^ (b | ~d)) + x0 - 198630844) << 6) | (a >>> 26)) + b) | 0;
      d = ((((d = d + (b ^ (a | ~c)) + x7 + 1126891415) << 10) | (d >>> 22)) + a) | 0;
      c = ((((c = c + (a ^ (d | ~b)) + x14 - 1416354905) << 15) | (c >>> 17)) + d) | 0;
      b = ((((b = b + (d ^ (c | ~a)) + x5 - 57434055) << 21) | (b >>> 11)) + c) | 0;
      a = ((((a = a + (c ^ (b | ~d)) + x12 + 1700485571) << 6) | (a >>> 26)) + b) | 0;
      d = ((((d = d + (b ^ (a | ~c)) + x3 - 1894986606) << 10) | (d >>> 22)) + a) | 0;
      c = ((((c = c + (a ^ (d | ~b)) + x10 - 1051523) << 15) | (c >>> 17)) + d) | 0;
      b = ((((b = b + (d ^ (c | ~a)) + x1 - 2054922799) << 21) | (b >>> 11)) + c) | 0;
      a = ((((a = a + (c ^ (b | ~d)) + x8 + 1873313359) << 6) | (a >>> 26)) + b) | 0;
      d = ((((d = d + (b ^ (a | ~c)) + x15 - 30611744) << 10) | (d >>> 22)) + a) | 0;
      c = ((((c = c + (a ^ (d | ~b)) + x6 - 1560198380) << 15) | (c >>> 17)) + d) | 0;
      b = ((((b = b + (d ^ (c | ~a)) + x13 + 1309151649) << 21) | (b >>> 11)) + c) | 0;
      a = ((((a = a + (c ^ (b | ~d)) + x4 - 145523070) << 6) | (a >>> 26)) + b) | 0;
      d = ((((d = d + (b ^ (a | ~c)) + x11 - 1120210379) << 10) | (d >>> 22)) + a) | 0;
      c = ((((c = c + (a ^ (d | ~b)) + x2 + 718787259) << 15) | (c >>> 17)) + d) | 0;
      b = ((((b = b + (d ^ (c | ~a)) + x9 - 343485551) << 21) | (b >>> 11)) + c) | 0;
      a = (a + a0) | 0;
      b = (b + b0) | 0;
      c = (c + c0) | 0;
      d = (d + d0) | 0;
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }

  protected finish(): Uint8Array {
    this.pad(8, true);
    const out = new Uint8Array(16);
    putUint32LE(out, 0, this.a);
    putUint32LE(out, 4, this.b);
    putUint32LE(out, 8, this.c);
    putUint32LE(out, 12, this.d);
    return out;
  }
}
