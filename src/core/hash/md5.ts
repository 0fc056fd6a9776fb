import { BlockDigest } from "./block";
import { putUint32LE } from "./int";

/**
 * MD5 (RFC 1321), the seeds' checksum. The 64 steps are unrolled and the 16 message words live
 * in locals, read little-endian through a DataView (in XS one getInt32 costs less than four byte
 * reads and their shifts): no allocation per block and no array access per step, which is what
 * makes the difference in an interpreter such as XS.
 */
export class Md5 extends BlockDigest {
  private a = 0x67452301;
  private b = 0xefcdab89 | 0;
  private c = 0x98badcfe | 0;
  private d = 0x10325476;

  constructor() {
    super(64);
  }

  protected blocks(data: Uint8Array, start: number, end: number): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
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
      x0 = view.getInt32(i, true);
      x1 = view.getInt32(i + 4, true);
      x2 = view.getInt32(i + 8, true);
      x3 = view.getInt32(i + 12, true);
      x4 = view.getInt32(i + 16, true);
      x5 = view.getInt32(i + 20, true);
      x6 = view.getInt32(i + 24, true);
      x7 = view.getInt32(i + 28, true);
      x8 = view.getInt32(i + 32, true);
      x9 = view.getInt32(i + 36, true);
      x10 = view.getInt32(i + 40, true);
      x11 = view.getInt32(i + 44, true);
      x12 = view.getInt32(i + 48, true);
      x13 = view.getInt32(i + 52, true);
      x14 = view.getInt32(i + 56, true);
      x15 = view.getInt32(i + 60, true);
      // Round 1.
      a = (a + (d ^ (b & (c ^ d))) + x0 - 680876936) | 0;
      a = (((a << 7) | (a >>> 25)) + b) | 0;
      d = (d + (c ^ (a & (b ^ c))) + x1 - 389564586) | 0;
      d = (((d << 12) | (d >>> 20)) + a) | 0;
      c = (c + (b ^ (d & (a ^ b))) + x2 + 606105819) | 0;
      c = (((c << 17) | (c >>> 15)) + d) | 0;
      b = (b + (a ^ (c & (d ^ a))) + x3 - 1044525330) | 0;
      b = (((b << 22) | (b >>> 10)) + c) | 0;
      a = (a + (d ^ (b & (c ^ d))) + x4 - 176418897) | 0;
      a = (((a << 7) | (a >>> 25)) + b) | 0;
      d = (d + (c ^ (a & (b ^ c))) + x5 + 1200080426) | 0;
      d = (((d << 12) | (d >>> 20)) + a) | 0;
      c = (c + (b ^ (d & (a ^ b))) + x6 - 1473231341) | 0;
      c = (((c << 17) | (c >>> 15)) + d) | 0;
      b = (b + (a ^ (c & (d ^ a))) + x7 - 45705983) | 0;
      b = (((b << 22) | (b >>> 10)) + c) | 0;
      a = (a + (d ^ (b & (c ^ d))) + x8 + 1770035416) | 0;
      a = (((a << 7) | (a >>> 25)) + b) | 0;
      d = (d + (c ^ (a & (b ^ c))) + x9 - 1958414417) | 0;
      d = (((d << 12) | (d >>> 20)) + a) | 0;
      c = (c + (b ^ (d & (a ^ b))) + x10 - 42063) | 0;
      c = (((c << 17) | (c >>> 15)) + d) | 0;
      b = (b + (a ^ (c & (d ^ a))) + x11 - 1990404162) | 0;
      b = (((b << 22) | (b >>> 10)) + c) | 0;
      a = (a + (d ^ (b & (c ^ d))) + x12 + 1804603682) | 0;
      a = (((a << 7) | (a >>> 25)) + b) | 0;
      d = (d + (c ^ (a & (b ^ c))) + x13 - 40341101) | 0;
      d = (((d << 12) | (d >>> 20)) + a) | 0;
      c = (c + (b ^ (d & (a ^ b))) + x14 - 1502002290) | 0;
      c = (((c << 17) | (c >>> 15)) + d) | 0;
      b = (b + (a ^ (c & (d ^ a))) + x15 + 1236535329) | 0;
      b = (((b << 22) | (b >>> 10)) + c) | 0;
      // Round 2.
      a = (a + (c ^ (d & (b ^ c))) + x1 - 165796510) | 0;
      a = (((a << 5) | (a >>> 27)) + b) | 0;
      d = (d + (b ^ (c & (a ^ b))) + x6 - 1069501632) | 0;
      d = (((d << 9) | (d >>> 23)) + a) | 0;
      c = (c + (a ^ (b & (d ^ a))) + x11 + 643717713) | 0;
      c = (((c << 14) | (c >>> 18)) + d) | 0;
      b = (b + (d ^ (a & (c ^ d))) + x0 - 373897302) | 0;
      b = (((b << 20) | (b >>> 12)) + c) | 0;
      a = (a + (c ^ (d & (b ^ c))) + x5 - 701558691) | 0;
      a = (((a << 5) | (a >>> 27)) + b) | 0;
      d = (d + (b ^ (c & (a ^ b))) + x10 + 38016083) | 0;
      d = (((d << 9) | (d >>> 23)) + a) | 0;
      c = (c + (a ^ (b & (d ^ a))) + x15 - 660478335) | 0;
      c = (((c << 14) | (c >>> 18)) + d) | 0;
      b = (b + (d ^ (a & (c ^ d))) + x4 - 405537848) | 0;
      b = (((b << 20) | (b >>> 12)) + c) | 0;
      a = (a + (c ^ (d & (b ^ c))) + x9 + 568446438) | 0;
      a = (((a << 5) | (a >>> 27)) + b) | 0;
      d = (d + (b ^ (c & (a ^ b))) + x14 - 1019803690) | 0;
      d = (((d << 9) | (d >>> 23)) + a) | 0;
      c = (c + (a ^ (b & (d ^ a))) + x3 - 187363961) | 0;
      c = (((c << 14) | (c >>> 18)) + d) | 0;
      b = (b + (d ^ (a & (c ^ d))) + x8 + 1163531501) | 0;
      b = (((b << 20) | (b >>> 12)) + c) | 0;
      a = (a + (c ^ (d & (b ^ c))) + x13 - 1444681467) | 0;
      a = (((a << 5) | (a >>> 27)) + b) | 0;
      d = (d + (b ^ (c & (a ^ b))) + x2 - 51403784) | 0;
      d = (((d << 9) | (d >>> 23)) + a) | 0;
      c = (c + (a ^ (b & (d ^ a))) + x7 + 1735328473) | 0;
      c = (((c << 14) | (c >>> 18)) + d) | 0;
      b = (b + (d ^ (a & (c ^ d))) + x12 - 1926607734) | 0;
      b = (((b << 20) | (b >>> 12)) + c) | 0;
      // Round 3.
      a = (a + (b ^ c ^ d) + x5 - 378558) | 0;
      a = (((a << 4) | (a >>> 28)) + b) | 0;
      d = (d + (a ^ b ^ c) + x8 - 2022574463) | 0;
      d = (((d << 11) | (d >>> 21)) + a) | 0;
      c = (c + (d ^ a ^ b) + x11 + 1839030562) | 0;
      c = (((c << 16) | (c >>> 16)) + d) | 0;
      b = (b + (c ^ d ^ a) + x14 - 35309556) | 0;
      b = (((b << 23) | (b >>> 9)) + c) | 0;
      a = (a + (b ^ c ^ d) + x1 - 1530992060) | 0;
      a = (((a << 4) | (a >>> 28)) + b) | 0;
      d = (d + (a ^ b ^ c) + x4 + 1272893353) | 0;
      d = (((d << 11) | (d >>> 21)) + a) | 0;
      c = (c + (d ^ a ^ b) + x7 - 155497632) | 0;
      c = (((c << 16) | (c >>> 16)) + d) | 0;
      b = (b + (c ^ d ^ a) + x10 - 1094730640) | 0;
      b = (((b << 23) | (b >>> 9)) + c) | 0;
      a = (a + (b ^ c ^ d) + x13 + 681279174) | 0;
      a = (((a << 4) | (a >>> 28)) + b) | 0;
      d = (d + (a ^ b ^ c) + x0 - 358537222) | 0;
      d = (((d << 11) | (d >>> 21)) + a) | 0;
      c = (c + (d ^ a ^ b) + x3 - 722521979) | 0;
      c = (((c << 16) | (c >>> 16)) + d) | 0;
      b = (b + (c ^ d ^ a) + x6 + 76029189) | 0;
      b = (((b << 23) | (b >>> 9)) + c) | 0;
      a = (a + (b ^ c ^ d) + x9 - 640364487) | 0;
      a = (((a << 4) | (a >>> 28)) + b) | 0;
      d = (d + (a ^ b ^ c) + x12 - 421815835) | 0;
      d = (((d << 11) | (d >>> 21)) + a) | 0;
      c = (c + (d ^ a ^ b) + x15 + 530742520) | 0;
      c = (((c << 16) | (c >>> 16)) + d) | 0;
      b = (b + (c ^ d ^ a) + x2 - 995338651) | 0;
      b = (((b << 23) | (b >>> 9)) + c) | 0;
      // Round 4.
      a = (a + (c ^ (b | ~d)) + x0 - 198630844) | 0;
      a = (((a << 6) | (a >>> 26)) + b) | 0;
      d = (d + (b ^ (a | ~c)) + x7 + 1126891415) | 0;
      d = (((d << 10) | (d >>> 22)) + a) | 0;
      c = (c + (a ^ (d | ~b)) + x14 - 1416354905) | 0;
      c = (((c << 15) | (c >>> 17)) + d) | 0;
      b = (b + (d ^ (c | ~a)) + x5 - 57434055) | 0;
      b = (((b << 21) | (b >>> 11)) + c) | 0;
      a = (a + (c ^ (b | ~d)) + x12 + 1700485571) | 0;
      a = (((a << 6) | (a >>> 26)) + b) | 0;
      d = (d + (b ^ (a | ~c)) + x3 - 1894986606) | 0;
      d = (((d << 10) | (d >>> 22)) + a) | 0;
      c = (c + (a ^ (d | ~b)) + x10 - 1051523) | 0;
      c = (((c << 15) | (c >>> 17)) + d) | 0;
      b = (b + (d ^ (c | ~a)) + x1 - 2054922799) | 0;
      b = (((b << 21) | (b >>> 11)) + c) | 0;
      a = (a + (c ^ (b | ~d)) + x8 + 1873313359) | 0;
      a = (((a << 6) | (a >>> 26)) + b) | 0;
      d = (d + (b ^ (a | ~c)) + x15 - 30611744) | 0;
      d = (((d << 10) | (d >>> 22)) + a) | 0;
      c = (c + (a ^ (d | ~b)) + x6 - 1560198380) | 0;
      c = (((c << 15) | (c >>> 17)) + d) | 0;
      b = (b + (d ^ (c | ~a)) + x13 + 1309151649) | 0;
      b = (((b << 21) | (b >>> 11)) + c) | 0;
      a = (a + (c ^ (b | ~d)) + x4 - 145523070) | 0;
      a = (((a << 6) | (a >>> 26)) + b) | 0;
      d = (d + (b ^ (a | ~c)) + x11 - 1120210379) | 0;
      d = (((d << 10) | (d >>> 22)) + a) | 0;
      c = (c + (a ^ (d | ~b)) + x2 + 718787259) | 0;
      c = (((c << 15) | (c >>> 17)) + d) | 0;
      b = (b + (d ^ (c | ~a)) + x9 - 343485551) | 0;
      b = (((b << 21) | (b >>> 11)) + c) | 0;
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
