import { BlockDigest } from "./block";
import { putUint32BE } from "./int";
import { IV_SHA512, K_HIGH } from "./sha2-constants";

// Plain arrays of small integers: faster to index than typed arrays in both XS and V8.
const K: number[] = [];
for (let i = 0; i < 64; i++) K.push(K_HIGH[i]);

/** SHA-256 (FIPS 180-4). */
export class Sha256 extends BlockDigest {
  /** The chaining value, in the order a..h. */
  private readonly state = new Int32Array(8);
  /** The message schedule, reused for every block. */
  private readonly w: number[] = [];

  constructor() {
    super(64);
    for (let i = 0; i < 64; i++) this.w.push(0);
    for (let i = 0; i < 8; i++) this.state[i] = IV_SHA512[2 * i];
  }

  protected blocks(data: Uint8Array, start: number, end: number): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const w = this.w;
    const k = K;
    const state = this.state;
    let t: number;
    for (let i = start; i < end; i += 64) {
      for (let j = 0; j < 16; j++) w[j] = view.getInt32(i + 4 * j);
      for (let j = 16; j < 64; j++) {
        const x = w[j - 15];
        const y = w[j - 2];
        w[j] =
          ((((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
            (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) +
            w[j - 7] +
            w[j - 16]) |
          0;
      }
      let a = state[0];
      let b = state[1];
      let c = state[2];
      let d = state[3];
      let e = state[4];
      let f = state[5];
      let g = state[6];
      let h = state[7];
      // Eight rounds per iteration, the roles of a..h rotating instead of the values moving.
      for (let j = 0; j < 64; j += 8) {
        t =
          h +
          (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
          (g ^ (e & (f ^ g))) +
          k[j] +
          w[j];
        d = (d + t) | 0;
        h =
          (t +
            (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
            ((a & b) | (c & (a | b)))) |
          0;
        t =
          g +
          (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
          (f ^ (d & (e ^ f))) +
          k[j + 1] +
          w[j + 1];
        c = (c + t) | 0;
        g =
          (t +
            (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
            ((h & a) | (b & (h | a)))) |
          0;
        t =
          f +
          (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
          (e ^ (c & (d ^ e))) +
          k[j + 2] +
          w[j + 2];
        b = (b + t) | 0;
        f =
          (t +
            (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
            ((g & h) | (a & (g | h)))) |
          0;
        t =
          e +
          (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
          (d ^ (b & (c ^ d))) +
          k[j + 3] +
          w[j + 3];
        a = (a + t) | 0;
        e =
          (t +
            (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
            ((f & g) | (h & (f | g)))) |
          0;
        t =
          d +
          (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
          (c ^ (a & (b ^ c))) +
          k[j + 4] +
          w[j + 4];
        h = (h + t) | 0;
        d =
          (t +
            (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
            ((e & f) | (g & (e | f)))) |
          0;
        t =
          c +
          (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
          (b ^ (h & (a ^ b))) +
          k[j + 5] +
          w[j + 5];
        g = (g + t) | 0;
        c =
          (t +
            (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
            ((d & e) | (f & (d | e)))) |
          0;
        t =
          b +
          (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
          (a ^ (g & (h ^ a))) +
          k[j + 6] +
          w[j + 6];
        f = (f + t) | 0;
        b =
          (t +
            (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
            ((c & d) | (e & (c | d)))) |
          0;
        t =
          a +
          (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
          (h ^ (f & (g ^ h))) +
          k[j + 7] +
          w[j + 7];
        e = (e + t) | 0;
        a =
          (t +
            (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
            ((b & c) | (d & (b | c)))) |
          0;
      }
      // Updating the state inside the loop keeps V8 from deoptimising on leaving it.
      state[0] += a;
      state[1] += b;
      state[2] += c;
      state[3] += d;
      state[4] += e;
      state[5] += f;
      state[6] += g;
      state[7] += h;
    }
  }

  protected finish(): Uint8Array {
    this.pad(8, false);
    const out = new Uint8Array(32);
    for (let i = 0; i < 8; i++) putUint32BE(out, 4 * i, this.state[i]);
    return out;
  }
}
