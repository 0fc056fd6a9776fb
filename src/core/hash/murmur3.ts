import { BlockDigest } from "./block";
import { mul32, putUint32BE, putUint32LE } from "./int";

// MurmurHash3 as Guava's Hashing.murmur3_32() and murmur3_128() compute it (seed 0 by default),
// which is how ThingsBoard checksums a package.

/** MurmurHash3_x86_32; the value comes out as 4 bytes big-endian, like CRC32. */
export class Murmur3_32 extends BlockDigest {
  private h: number;

  constructor(seed = 0) {
    super(4);
    this.h = seed | 0;
  }

  protected blocks(data: Uint8Array, start: number, end: number): void {
    let h = this.h;
    for (let i = start; i < end; i += 4) {
      h ^= mixK1(data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
      h = (h << 13) | (h >>> 19);
      h = (h * 5 + 0xe6546b64) | 0;
    }
    this.h = h;
  }

  protected finish(): Uint8Array {
    let k = 0;
    for (let i = this.partialLength - 1; i >= 0; i--) k = (k << 8) | this.partial[i];
    let h = this.h ^ mixK1(k) ^ this.total;
    h ^= h >>> 16;
    h = mul32(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = mul32(h, 0xc2b2ae35);
    h ^= h >>> 16;
    const out = new Uint8Array(4);
    putUint32BE(out, 0, h);
    return out;
  }
}

function mixK1(k: number): number {
  k = mul32(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return mul32(k, 0x1b873593);
}

/** A 64-bit word as two int32 halves; the 128-bit hash updates these in place. */
interface Word64 {
  hi: number;
  lo: number;
}

const TWO_32 = 4294967296;

/** x = x * (bh:bl) mod 2^64, from 16-bit partial products that stay exact in doubles. */
function multiply(x: Word64, bh: number, bl: number): void {
  const al = x.lo;
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const middle = a1 * b0 + a0 * b1;
  const low = a0 * b0 + (middle % 65536) * 65536;
  const carry = a1 * b1 + Math.floor(middle / 65536) + Math.floor(low / TWO_32);
  x.hi = (carry + mul32(x.hi, bl) + mul32(al, bh)) | 0;
  x.lo = low | 0;
}

/** x = x rotated left by n bits, 0 < n < 64 and n !== 32. */
function rotateLeft(x: Word64, n: number): void {
  let hi = x.hi;
  let lo = x.lo;
  if (n > 32) {
    hi = x.lo;
    lo = x.hi;
    n -= 32;
  }
  x.hi = (hi << n) | (lo >>> (32 - n));
  x.lo = (lo << n) | (hi >>> (32 - n));
}

function add(x: Word64, y: Word64): void {
  const lo = (x.lo >>> 0) + (y.lo >>> 0);
  x.hi = (x.hi + y.hi + Math.floor(lo / TWO_32)) | 0;
  x.lo = lo | 0;
}

function xor(x: Word64, y: Word64): void {
  x.hi ^= y.hi;
  x.lo ^= y.lo;
}

/** x = x * 5 + (0:n). */
function times5Plus(x: Word64, n: number): void {
  const lo = (x.lo >>> 0) * 5 + n;
  x.hi = (x.hi * 5 + Math.floor(lo / TWO_32)) | 0;
  x.lo = lo | 0;
}

/** The 64-bit finalisation mix. */
function fmix64(x: Word64): void {
  x.lo ^= x.hi >>> 1;
  multiply(x, 0xff51afd7, 0xed558ccd);
  x.lo ^= x.hi >>> 1;
  multiply(x, 0xc4ceb9fe, 0x1a85ec53);
  x.lo ^= x.hi >>> 1;
}

/** The 64-bit word at data[at, at + 8), little-endian. */
function readWord64(x: Word64, data: Uint8Array, at: number): void {
  x.lo = data[at] | (data[at + 1] << 8) | (data[at + 2] << 16) | (data[at + 3] << 24);
  x.hi = data[at + 4] | (data[at + 5] << 8) | (data[at + 6] << 16) | (data[at + 7] << 24);
}

/**
 * MurmurHash3_x64_128; the value comes out as Guava's HashCode.asBytes(): h1 little-endian, then
 * h2 little-endian.
 */
export class Murmur3_128 extends BlockDigest {
  private readonly h1: Word64;
  private readonly h2: Word64;
  private readonly k1: Word64 = { hi: 0, lo: 0 };
  private readonly k2: Word64 = { hi: 0, lo: 0 };

  constructor(seed = 0) {
    super(16);
    // Guava widens the int seed to a long, sign and all.
    this.h1 = { hi: seed < 0 ? -1 : 0, lo: seed | 0 };
    this.h2 = { hi: this.h1.hi, lo: this.h1.lo };
  }

  protected blocks(data: Uint8Array, start: number, end: number): void {
    const { h1, h2, k1, k2 } = this;
    for (let i = start; i < end; i += 16) {
      readWord64(k1, data, i);
      readWord64(k2, data, i + 8);
      this.mixK1();
      xor(h1, k1);
      rotateLeft(h1, 27);
      add(h1, h2);
      times5Plus(h1, 0x52dce729);
      this.mixK2();
      xor(h2, k2);
      rotateLeft(h2, 31);
      add(h2, h1);
      times5Plus(h2, 0x38495ab5);
    }
  }

  private mixK1(): void {
    multiply(this.k1, 0x87c37b91, 0x114253d5);
    rotateLeft(this.k1, 31);
    multiply(this.k1, 0x4cf5ad43, 0x2745937f);
  }

  private mixK2(): void {
    multiply(this.k2, 0x4cf5ad43, 0x2745937f);
    rotateLeft(this.k2, 33);
    multiply(this.k2, 0x87c37b91, 0x114253d5);
  }

  protected finish(): Uint8Array {
    const { h1, h2, k1, k2 } = this;
    // The tail, zero-padded to a block; a zero word mixes to zero, as in the reference code.
    this.partial.fill(0, this.partialLength);
    readWord64(k1, this.partial, 0);
    readWord64(k2, this.partial, 8);
    this.mixK1();
    xor(h1, k1);
    this.mixK2();
    xor(h2, k2);
    const length = { hi: Math.floor(this.total / TWO_32), lo: this.total | 0 };
    xor(h1, length);
    xor(h2, length);
    add(h1, h2);
    add(h2, h1);
    fmix64(h1);
    fmix64(h2);
    add(h1, h2);
    add(h2, h1);
    const out = new Uint8Array(16);
    putUint32LE(out, 0, h1.lo);
    putUint32LE(out, 4, h1.hi);
    putUint32LE(out, 8, h2.lo);
    putUint32LE(out, 12, h2.hi);
    return out;
  }
}
