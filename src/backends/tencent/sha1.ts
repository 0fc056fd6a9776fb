// SHA-1 for the "hmacsha1" MQTT password, the one Tencent's C SDKs sign with. It is here rather
// than in src/core/hash because no cloud uses it as an image checksum.

import { BlockDigest } from "../../core/hash/block";
import { putUint32BE } from "../../core/hash/int";

/** SHA-1 (FIPS 180-4). */
export class Sha1 extends BlockDigest {
  private readonly state = new Int32Array([
    0x67452301,
    0xefcdab89 | 0,
    0x98badcfe | 0,
    0x10325476,
    0xc3d2e1f0 | 0,
  ]);
  /** The message schedule, reused for every block. */
  private readonly w = new Int32Array(80);

  constructor() {
    super(64);
  }

  protected blocks(data: Uint8Array, start: number, end: number): void {
    const w = this.w;
    const state = this.state;
    for (let i = start; i < end; i += 64) {
      for (let j = 0; j < 16; j++) {
        const p = i + 4 * j;
        w[j] = (data[p] << 24) | (data[p + 1] << 16) | (data[p + 2] << 8) | data[p + 3];
      }
      for (let j = 16; j < 80; j++) {
        const x = w[j - 3] ^ w[j - 8] ^ w[j - 14] ^ w[j - 16];
        w[j] = (x << 1) | (x >>> 31);
      }
      let a = state[0];
      let b = state[1];
      let c = state[2];
      let d = state[3];
      let e = state[4];
      for (let j = 0; j < 80; j++) {
        let f: number;
        let k: number;
        if (j < 20) {
          f = d ^ (b & (c ^ d));
          k = 0x5a827999;
        } else if (j < 40) {
          f = b ^ c ^ d;
          k = 0x6ed9eba1;
        } else if (j < 60) {
          f = (b & c) | (d & (b | c));
          k = 0x8f1bbcdc | 0;
        } else {
          f = b ^ c ^ d;
          k = 0xca62c1d6 | 0;
        }
        const t = (((a << 5) | (a >>> 27)) + f + e + k + w[j]) | 0;
        e = d;
        d = c;
        c = (b << 30) | (b >>> 2);
        b = a;
        a = t;
      }
      state[0] = (state[0] + a) | 0;
      state[1] = (state[1] + b) | 0;
      state[2] = (state[2] + c) | 0;
      state[3] = (state[3] + d) | 0;
      state[4] = (state[4] + e) | 0;
    }
  }

  protected finish(): Uint8Array {
    this.pad(8, false);
    const out = new Uint8Array(20);
    for (let i = 0; i < 5; i++) putUint32BE(out, 4 * i, this.state[i]);
    return out;
  }
}
