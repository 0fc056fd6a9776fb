// ECDSA P-256 (NIST secp256r1) verification in portable arithmetic: no BigInt and no Math.imul,
// every intermediate value an exact integer below 2^53, so the same code runs on XS, on Espruino
// (ES5) and on Node. It handles public data only (key, digest, signature), so nothing here tries
// to be constant-time; it is written for speed in an interpreter instead.
//
// Numbers are 11 little-endian limbs of 24 bits in plain arrays (a sixth faster than typed
// arrays in XS): a product of two limbs is below 2^48, so a column of 11 products stays exact.
// Field arithmetic is Montgomery multiplication with R = 2^264. Since p = -1 (mod 2^96), each
// reduction step's factor is the low limb itself, and p's limbs are 2^24 - 1 (four of them,
// together 2^96 - 1), 0, 1, 0xffff00 and 0xffff, so a step costs three multiplications. Sums and
// differences fold bits 256 and up back with 2^256 = 2^224 - 2^192 - 2^96 + 1 (mod p): every
// field element stays below 2^257 with limbs below 2^24, which the multiplication needs. The
// multiplication and squaring are unrolled (generated), as loops cost as much as the arithmetic
// in an interpreter.
//
// The verification computes u1*G + u2*Q in one pass of 257 doublings (Shamir's trick) with the
// scalars in width-6 and width-5 NAF: a table of the odd multiples 1G..31G (affine, below) and
// one of 1Q..15Q built per key. The result is compared in Jacobian coordinates, x = X/Z^2 against
// r and r + n, so no inversion mod p is needed; s^-1 mod n is a binary extended Euclid.

import { otaError } from "../errors";
import { toHex } from "../util/bytes";

/** A number mod p or mod n: 11 little-endian limbs of 24 bits. */
type Limbs = number[];

const LIMBS = 11;
const MASK = 0xffffff;
const INV_RADIX = 1 / 0x1000000;

function zeros(): Limbs {
  const out: Limbs = [];
  for (let i = 0; i < LIMBS; i++) out.push(0);
  return out;
}

/** The 32 big-endian bytes at `offset` as limbs. */
function limbsFromBytes(bytes: Uint8Array, offset: number): Limbs {
  const out = zeros();
  for (let i = 0; i < 10; i++) {
    const at = offset + 31 - 3 * i;
    out[i] = bytes[at] | (bytes[at - 1] << 8) | (bytes[at - 2] << 16);
  }
  out[10] = bytes[offset + 1] | (bytes[offset] << 8);
  return out;
}

/** The 64 hex digits at `offset` (a trusted constant) as limbs, six digits a limb. */
function limbsFromHex(hex: string, offset = 0): Limbs {
  const out = zeros();
  for (let i = 0; i < 10; i++) out[i] = parseInt(hex.substr(offset + 58 - 6 * i, 6), 16);
  out[10] = parseInt(hex.substr(offset, 4), 16);
  return out;
}

function copyInto(r: Limbs, a: Limbs): void {
  for (let i = 0; i < LIMBS; i++) r[i] = a[i];
}

/** -1, 0 or 1 as a is below, equal to or above b (both with limbs below 2^24). */
function compare(a: Limbs, b: Limbs): number {
  for (let i = LIMBS - 1; i >= 0; i--) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

function isZero(a: Limbs): boolean {
  for (let i = 0; i < LIMBS; i++) if (a[i] !== 0) return false;
  return true;
}

/** r = a + b mod 2^264; returns the carry out. */
function addInto(r: Limbs, a: Limbs, b: Limbs): number {
  let carry = 0;
  for (let i = 0; i < LIMBS; i++) {
    const x = a[i] + b[i] + carry;
    r[i] = x & MASK;
    carry = x >> 24;
  }
  return carry;
}

/** r = a - b mod 2^264; returns 1 when a < b. */
function subInto(r: Limbs, a: Limbs, b: Limbs): number {
  let borrow = 0;
  for (let i = 0; i < LIMBS; i++) {
    const x = a[i] - b[i] - borrow;
    r[i] = x & MASK;
    borrow = x < 0 ? 1 : 0;
  }
  return borrow;
}

const P = limbsFromHex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
const N = limbsFromHex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
/** -n^-1 mod 2^24, the factor of a Montgomery step mod n. */
const N_FACTOR = 0xbc4f;
/** R^2 mod p: the multiplier into the Montgomery domain. */
const R2 = limbsFromHex("0004fffffffdfffffffffffffffefffffffbffffffff00000000000000030000");
/** R mod p: 1 in the Montgomery domain. */
const ONE = limbsFromHex("000000fffffffeffffffffffffffffffffffff00000000000000000000000100");
const B = limbsFromHex("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b");
const ONE_SCALAR = zeros();
ONE_SCALAR[0] = 1;

/**
 * r = the limbs x0..x10 carried (they are exact integers of either sign, their total below 2^262
 * and not negative), with the bits from 256 up folded back in: limbs below 2^24, total below
 * 2^257, the same value mod p.
 */
function normalize(
  r: Limbs,
  x0: number,
  x1: number,
  x2: number,
  x3: number,
  x4: number,
  x5: number,
  x6: number,
  x7: number,
  x8: number,
  x9: number,
  x10: number,
): void {
  let low: number;
  low = x0 & MASK;
  x1 += (x0 - low) * INV_RADIX;
  x0 = low;
  low = x1 & MASK;
  x2 += (x1 - low) * INV_RADIX;
  x1 = low;
  low = x2 & MASK;
  x3 += (x2 - low) * INV_RADIX;
  x2 = low;
  low = x3 & MASK;
  x4 += (x3 - low) * INV_RADIX;
  x3 = low;
  low = x4 & MASK;
  x5 += (x4 - low) * INV_RADIX;
  x4 = low;
  low = x5 & MASK;
  x6 += (x5 - low) * INV_RADIX;
  x5 = low;
  low = x6 & MASK;
  x7 += (x6 - low) * INV_RADIX;
  x6 = low;
  low = x7 & MASK;
  x8 += (x7 - low) * INV_RADIX;
  x7 = low;
  low = x8 & MASK;
  x9 += (x8 - low) * INV_RADIX;
  x8 = low;
  low = x9 & MASK;
  x10 += (x9 - low) * INV_RADIX;
  x9 = low;
  const q = x10 >> 16;
  x10 &= 0xffff;
  x0 += q;
  x4 -= q;
  x8 -= q;
  x9 += q * 256;
  r[0] = low = x0 & MASK;
  x1 += (x0 - low) * INV_RADIX;
  r[1] = low = x1 & MASK;
  x2 += (x1 - low) * INV_RADIX;
  r[2] = low = x2 & MASK;
  x3 += (x2 - low) * INV_RADIX;
  r[3] = low = x3 & MASK;
  x4 += (x3 - low) * INV_RADIX;
  r[4] = low = x4 & MASK;
  x5 += (x4 - low) * INV_RADIX;
  r[5] = low = x5 & MASK;
  x6 += (x5 - low) * INV_RADIX;
  r[6] = low = x6 & MASK;
  x7 += (x6 - low) * INV_RADIX;
  r[7] = low = x7 & MASK;
  x8 += (x7 - low) * INV_RADIX;
  r[8] = low = x8 & MASK;
  x9 += (x8 - low) * INV_RADIX;
  r[9] = low = x9 & MASK;
  x10 += (x9 - low) * INV_RADIX;
  r[10] = x10;
}

function feAdd(r: Limbs, a: Limbs, b: Limbs): void {
  normalize(
    r,
    a[0] + b[0],
    a[1] + b[1],
    a[2] + b[2],
    a[3] + b[3],
    a[4] + b[4],
    a[5] + b[5],
    a[6] + b[6],
    a[7] + b[7],
    a[8] + b[8],
    a[9] + b[9],
    a[10] + b[10],
  );
}

/**
 * r = ka a - kb b for small ka and kb (up to 8), plus kb 4p (4p limb by limb) to keep the total
 * positive: the scaling and the difference of the point formulas in one normalization.
 */
function feLinear(r: Limbs, ka: number, a: Limbs, kb: number, b: Limbs): void {
  normalize(
    r,
    ka * a[0] - kb * (b[0] - 0xfffffc),
    ka * a[1] - kb * (b[1] - 0xffffff),
    ka * a[2] - kb * (b[2] - 0xffffff),
    ka * a[3] - kb * (b[3] - 0xffffff),
    ka * a[4] - kb * (b[4] - 0x3),
    ka * a[5] - kb * b[5],
    ka * a[6] - kb * b[6],
    ka * a[7] - kb * b[7],
    ka * a[8] - kb * (b[8] - 0x4),
    ka * a[9] - kb * (b[9] - 0xfffc00),
    ka * a[10] - kb * (b[10] - 0x3ffff),
  );
}

function feSub(r: Limbs, a: Limbs, b: Limbs): void {
  feLinear(r, 1, a, 1, b);
}

/** Whether a = 0 mod p: a is below 2^257, so 0, p or 2p. */
function feIsZero(a: Limbs): boolean {
  const r = a.slice();
  while (compare(r, P) >= 0) subInto(r, r, P);
  return isZero(r);
}

/**
 * r = a b / R mod p, below 2^257 (r may be a or b): the 121 products by columns, then 11
 * Montgomery steps, each adding m p for m the lowest column's low limb, which clears that limb.
 */
function feMul(r: Limbs, a: Limbs, b: Limbs): void {
  const a0 = a[0],
    a1 = a[1],
    a2 = a[2],
    a3 = a[3],
    a4 = a[4],
    a5 = a[5],
    a6 = a[6],
    a7 = a[7],
    a8 = a[8],
    a9 = a[9],
    a10 = a[10];
  const b0 = b[0],
    b1 = b[1],
    b2 = b[2],
    b3 = b[3],
    b4 = b[4],
    b5 = b[5],
    b6 = b[6],
    b7 = b[7],
    b8 = b[8],
    b9 = b[9],
    b10 = b[10];
  const t0 = a0 * b0;
  let t1 = a0 * b1 + a1 * b0;
  let t2 = a0 * b2 + a1 * b1 + a2 * b0;
  let t3 = a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0;
  let t4 = a0 * b4 + a1 * b3 + a2 * b2 + a3 * b1 + a4 * b0;
  let t5 = a0 * b5 + a1 * b4 + a2 * b3 + a3 * b2 + a4 * b1 + a5 * b0;
  let t6 = a0 * b6 + a1 * b5 + a2 * b4 + a3 * b3 + a4 * b2 + a5 * b1 + a6 * b0;
  let t7 = a0 * b7 + a1 * b6 + a2 * b5 + a3 * b4 + a4 * b3 + a5 * b2 + a6 * b1 + a7 * b0;
  let t8 = a0 * b8 + a1 * b7 + a2 * b6 + a3 * b5 + a4 * b4 + a5 * b3 + a6 * b2 + a7 * b1 + a8 * b0;
  let t9 =
    a0 * b9 +
    a1 * b8 +
    a2 * b7 +
    a3 * b6 +
    a4 * b5 +
    a5 * b4 +
    a6 * b3 +
    a7 * b2 +
    a8 * b1 +
    a9 * b0;
  let t10 =
    a0 * b10 +
    a1 * b9 +
    a2 * b8 +
    a3 * b7 +
    a4 * b6 +
    a5 * b5 +
    a6 * b4 +
    a7 * b3 +
    a8 * b2 +
    a9 * b1 +
    a10 * b0;
  let t11 =
    a1 * b10 +
    a2 * b9 +
    a3 * b8 +
    a4 * b7 +
    a5 * b6 +
    a6 * b5 +
    a7 * b4 +
    a8 * b3 +
    a9 * b2 +
    a10 * b1;
  let t12 =
    a2 * b10 + a3 * b9 + a4 * b8 + a5 * b7 + a6 * b6 + a7 * b5 + a8 * b4 + a9 * b3 + a10 * b2;
  let t13 = a3 * b10 + a4 * b9 + a5 * b8 + a6 * b7 + a7 * b6 + a8 * b5 + a9 * b4 + a10 * b3;
  let t14 = a4 * b10 + a5 * b9 + a6 * b8 + a7 * b7 + a8 * b6 + a9 * b5 + a10 * b4;
  let t15 = a5 * b10 + a6 * b9 + a7 * b8 + a8 * b7 + a9 * b6 + a10 * b5;
  let t16 = a6 * b10 + a7 * b9 + a8 * b8 + a9 * b7 + a10 * b6;
  let t17 = a7 * b10 + a8 * b9 + a9 * b8 + a10 * b7;
  let t18 = a8 * b10 + a9 * b9 + a10 * b8;
  let t19 = a9 * b10 + a10 * b9;
  let t20 = a10 * b10;
  // m p at limb i: m (2^96 - 1) is -m at i (clearing its low limb) and +m at i + 4; then m,
  // 0xffff00 m and 0xffff m at i + 8, 9 and 10. The result is columns 11 to 21, carried.
  let m: number;
  m = t0 & MASK;
  t1 += (t0 - m) * INV_RADIX;
  t4 += m;
  t8 += m;
  t9 += m * 0xffff00;
  t10 += m * 0xffff;
  m = t1 & MASK;
  t2 += (t1 - m) * INV_RADIX;
  t5 += m;
  t9 += m;
  t10 += m * 0xffff00;
  t11 += m * 0xffff;
  m = t2 & MASK;
  t3 += (t2 - m) * INV_RADIX;
  t6 += m;
  t10 += m;
  t11 += m * 0xffff00;
  t12 += m * 0xffff;
  m = t3 & MASK;
  t4 += (t3 - m) * INV_RADIX;
  t7 += m;
  t11 += m;
  t12 += m * 0xffff00;
  t13 += m * 0xffff;
  m = t4 & MASK;
  t5 += (t4 - m) * INV_RADIX;
  t8 += m;
  t12 += m;
  t13 += m * 0xffff00;
  t14 += m * 0xffff;
  m = t5 & MASK;
  t6 += (t5 - m) * INV_RADIX;
  t9 += m;
  t13 += m;
  t14 += m * 0xffff00;
  t15 += m * 0xffff;
  m = t6 & MASK;
  t7 += (t6 - m) * INV_RADIX;
  t10 += m;
  t14 += m;
  t15 += m * 0xffff00;
  t16 += m * 0xffff;
  m = t7 & MASK;
  t8 += (t7 - m) * INV_RADIX;
  t11 += m;
  t15 += m;
  t16 += m * 0xffff00;
  t17 += m * 0xffff;
  m = t8 & MASK;
  t9 += (t8 - m) * INV_RADIX;
  t12 += m;
  t16 += m;
  t17 += m * 0xffff00;
  t18 += m * 0xffff;
  m = t9 & MASK;
  t10 += (t9 - m) * INV_RADIX;
  t13 += m;
  t17 += m;
  t18 += m * 0xffff00;
  t19 += m * 0xffff;
  m = t10 & MASK;
  t11 += (t10 - m) * INV_RADIX;
  t14 += m;
  t18 += m;
  t19 += m * 0xffff00;
  t20 += m * 0xffff;
  r[0] = m = t11 & MASK;
  t12 += (t11 - m) * INV_RADIX;
  r[1] = m = t12 & MASK;
  t13 += (t12 - m) * INV_RADIX;
  r[2] = m = t13 & MASK;
  t14 += (t13 - m) * INV_RADIX;
  r[3] = m = t14 & MASK;
  t15 += (t14 - m) * INV_RADIX;
  r[4] = m = t15 & MASK;
  t16 += (t15 - m) * INV_RADIX;
  r[5] = m = t16 & MASK;
  t17 += (t16 - m) * INV_RADIX;
  r[6] = m = t17 & MASK;
  t18 += (t17 - m) * INV_RADIX;
  r[7] = m = t18 & MASK;
  t19 += (t18 - m) * INV_RADIX;
  r[8] = m = t19 & MASK;
  t20 += (t19 - m) * INV_RADIX;
  r[9] = m = t20 & MASK;
  r[10] = (t20 - m) * INV_RADIX;
}

/** r = a a / R mod p, as feMul with the 55 cross products doubled (d = 2a) instead of repeated. */
function feSqr(r: Limbs, a: Limbs): void {
  const a0 = a[0],
    a1 = a[1],
    a2 = a[2],
    a3 = a[3],
    a4 = a[4],
    a5 = a[5],
    a6 = a[6],
    a7 = a[7],
    a8 = a[8],
    a9 = a[9],
    a10 = a[10];
  const d1 = 2 * a1,
    d2 = 2 * a2,
    d3 = 2 * a3,
    d4 = 2 * a4,
    d5 = 2 * a5,
    d6 = 2 * a6,
    d7 = 2 * a7,
    d8 = 2 * a8,
    d9 = 2 * a9,
    d10 = 2 * a10;
  const t0 = a0 * a0;
  let t1 = a0 * d1;
  let t2 = a0 * d2 + a1 * a1;
  let t3 = a0 * d3 + a1 * d2;
  let t4 = a0 * d4 + a1 * d3 + a2 * a2;
  let t5 = a0 * d5 + a1 * d4 + a2 * d3;
  let t6 = a0 * d6 + a1 * d5 + a2 * d4 + a3 * a3;
  let t7 = a0 * d7 + a1 * d6 + a2 * d5 + a3 * d4;
  let t8 = a0 * d8 + a1 * d7 + a2 * d6 + a3 * d5 + a4 * a4;
  let t9 = a0 * d9 + a1 * d8 + a2 * d7 + a3 * d6 + a4 * d5;
  let t10 = a0 * d10 + a1 * d9 + a2 * d8 + a3 * d7 + a4 * d6 + a5 * a5;
  let t11 = a1 * d10 + a2 * d9 + a3 * d8 + a4 * d7 + a5 * d6;
  let t12 = a2 * d10 + a3 * d9 + a4 * d8 + a5 * d7 + a6 * a6;
  let t13 = a3 * d10 + a4 * d9 + a5 * d8 + a6 * d7;
  let t14 = a4 * d10 + a5 * d9 + a6 * d8 + a7 * a7;
  let t15 = a5 * d10 + a6 * d9 + a7 * d8;
  let t16 = a6 * d10 + a7 * d9 + a8 * a8;
  let t17 = a7 * d10 + a8 * d9;
  let t18 = a8 * d10 + a9 * a9;
  let t19 = a9 * d10;
  let t20 = a10 * a10;
  let m: number;
  m = t0 & MASK;
  t1 += (t0 - m) * INV_RADIX;
  t4 += m;
  t8 += m;
  t9 += m * 0xffff00;
  t10 += m * 0xffff;
  m = t1 & MASK;
  t2 += (t1 - m) * INV_RADIX;
  t5 += m;
  t9 += m;
  t10 += m * 0xffff00;
  t11 += m * 0xffff;
  m = t2 & MASK;
  t3 += (t2 - m) * INV_RADIX;
  t6 += m;
  t10 += m;
  t11 += m * 0xffff00;
  t12 += m * 0xffff;
  m = t3 & MASK;
  t4 += (t3 - m) * INV_RADIX;
  t7 += m;
  t11 += m;
  t12 += m * 0xffff00;
  t13 += m * 0xffff;
  m = t4 & MASK;
  t5 += (t4 - m) * INV_RADIX;
  t8 += m;
  t12 += m;
  t13 += m * 0xffff00;
  t14 += m * 0xffff;
  m = t5 & MASK;
  t6 += (t5 - m) * INV_RADIX;
  t9 += m;
  t13 += m;
  t14 += m * 0xffff00;
  t15 += m * 0xffff;
  m = t6 & MASK;
  t7 += (t6 - m) * INV_RADIX;
  t10 += m;
  t14 += m;
  t15 += m * 0xffff00;
  t16 += m * 0xffff;
  m = t7 & MASK;
  t8 += (t7 - m) * INV_RADIX;
  t11 += m;
  t15 += m;
  t16 += m * 0xffff00;
  t17 += m * 0xffff;
  m = t8 & MASK;
  t9 += (t8 - m) * INV_RADIX;
  t12 += m;
  t16 += m;
  t17 += m * 0xffff00;
  t18 += m * 0xffff;
  m = t9 & MASK;
  t10 += (t9 - m) * INV_RADIX;
  t13 += m;
  t17 += m;
  t18 += m * 0xffff00;
  t19 += m * 0xffff;
  m = t10 & MASK;
  t11 += (t10 - m) * INV_RADIX;
  t14 += m;
  t18 += m;
  t19 += m * 0xffff00;
  t20 += m * 0xffff;
  r[0] = m = t11 & MASK;
  t12 += (t11 - m) * INV_RADIX;
  r[1] = m = t12 & MASK;
  t13 += (t12 - m) * INV_RADIX;
  r[2] = m = t13 & MASK;
  t14 += (t13 - m) * INV_RADIX;
  r[3] = m = t14 & MASK;
  t15 += (t14 - m) * INV_RADIX;
  r[4] = m = t15 & MASK;
  t16 += (t15 - m) * INV_RADIX;
  r[5] = m = t16 & MASK;
  t17 += (t16 - m) * INV_RADIX;
  r[6] = m = t17 & MASK;
  t18 += (t17 - m) * INV_RADIX;
  r[7] = m = t18 & MASK;
  t19 += (t18 - m) * INV_RADIX;
  r[8] = m = t19 & MASK;
  t20 += (t19 - m) * INV_RADIX;
  r[9] = m = t20 & MASK;
  r[10] = (t20 - m) * INV_RADIX;
}

/** Whether a = b mod p. */
function feEqual(a: Limbs, b: Limbs): boolean {
  const difference = zeros();
  feSub(difference, a, b);
  return feIsZero(difference);
}

function toMontgomery(a: Limbs): Limbs {
  const r = zeros();
  feMul(r, a, R2);
  return r;
}

/** A point in Jacobian coordinates (x = X/Z^2, y = Y/Z^3), in the Montgomery domain. */
interface Jacobian {
  x: Limbs;
  y: Limbs;
  z: Limbs;
  infinity: boolean;
}

/** A table entry: affine when z is undefined, else Jacobian with z^2 and z^3 at hand. */
interface Addend {
  x: Limbs;
  y: Limbs;
  negY: Limbs;
  z?: Limbs;
  zz?: Limbs;
  zzz?: Limbs;
}

/** Scratch field elements for the point formulas. */
type Scratch = Limbs[];

function scratch(): Scratch {
  const out: Scratch = [];
  for (let i = 0; i < 8; i++) out.push(zeros());
  return out;
}

/** p = 2p, with a = -3 (dbl-2001-b, Z3 = 2YZ): 4M + 4S. */
function double(p: Jacobian, t: Scratch): void {
  if (p.infinity) return;
  const delta = t[0];
  const gamma = t[1];
  const beta = t[2];
  const alpha = t[3];
  const u = t[4];
  feSqr(delta, p.z);
  feSqr(gamma, p.y);
  feMul(beta, p.x, gamma);
  // alpha = 3 (X - delta)(X + delta)
  feLinear(u, 3, p.x, 3, delta);
  feAdd(alpha, p.x, delta);
  feMul(alpha, u, alpha);
  feMul(p.z, p.y, p.z);
  feAdd(p.z, p.z, p.z);
  // X3 = alpha^2 - 8 beta
  feSqr(p.x, alpha);
  feLinear(p.x, 1, p.x, 8, beta);
  // Y3 = alpha (4 beta - X3) - 8 gamma^2
  feLinear(beta, 4, beta, 1, p.x);
  feMul(beta, alpha, beta);
  feSqr(gamma, gamma);
  feLinear(p.y, 1, beta, 8, gamma);
}

/** p = p + q, or p - q when `negate` (add-1998-cmo-2): 8M + 3S affine, 11M + 3S Jacobian. */
function add(p: Jacobian, q: Addend, negate: boolean, t: Scratch): void {
  const y2 = negate ? q.negY : q.y;
  if (p.infinity) {
    copyInto(p.x, q.x);
    copyInto(p.y, y2);
    copyInto(p.z, q.z ? q.z : ONE);
    p.infinity = false;
    return;
  }
  const z1z1 = t[0];
  const z1z1z1 = t[1];
  const u2 = t[2];
  const s2 = t[3];
  const h = t[6];
  const r = t[7];
  feSqr(z1z1, p.z);
  feMul(z1z1z1, z1z1, p.z);
  feMul(u2, q.x, z1z1);
  feMul(s2, y2, z1z1z1);
  let u1 = p.x;
  let s1 = p.y;
  if (q.z) {
    u1 = t[4];
    s1 = t[5];
    feMul(u1, p.x, q.zz!);
    feMul(s1, p.y, q.zzz!);
  }
  feSub(h, u2, u1);
  feSub(r, s2, s1);
  if (feIsZero(h)) {
    // The same x: the same point (double it) or opposite points (their sum is infinity).
    if (feIsZero(r)) double(p, t);
    else p.infinity = true;
    return;
  }
  const hh = t[0];
  const hhh = t[1];
  const v = t[2];
  const w = t[3];
  feSqr(hh, h);
  feMul(hhh, h, hh);
  feMul(v, u1, hh);
  // X3 = r^2 - H^3 - 2 V
  feSqr(p.x, r);
  feSub(p.x, p.x, hhh);
  feLinear(p.x, 1, p.x, 2, v);
  // Y3 = r (V - X3) - S1 H^3
  feSub(v, v, p.x);
  feMul(v, r, v);
  feMul(w, s1, hhh);
  feSub(p.y, v, w);
  // Z3 = Z1 Z2 H
  if (q.z) feMul(p.z, p.z, q.z);
  feMul(p.z, p.z, h);
}

function addend(x: Limbs, y: Limbs, z?: Limbs): Addend {
  const negY = zeros();
  feSub(negY, negY, y);
  if (!z) return { x, y, negY };
  const zz = zeros();
  const zzz = zeros();
  feSqr(zz, z);
  feMul(zzz, zz, z);
  return { x, y, negY, z, zz, zzz };
}

// 1G, 3G, 5G, ..., 31G in affine coordinates, X || Y in hex: the table of width-6 NAF digits.
// Made once with BigInt arithmetic; test/core/signature.test.ts checks it with Node's ECDH.
// Returned by a function, not held in a constant: on Espruino the strings would take about 180
// variables for the agent's whole life, for a table only a signature check needs.
export function gMultiples(): string[] {
  return [
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296" +
      "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    "5ecbe4d1a6330a44c8f7ef951d4bf165e6c6b721efada985fb41661bc6e7fd6c" +
      "8734640c4998ff7e374b06ce1a64a2ecd82ab036384fb83d9a79b127a27d5032",
    "51590b7a515140d2d784c85608668fdfef8c82fd1f5be52421554a0dc3d033ed" +
      "e0c17da8904a727d8ae1bf36bf8a79260d012f00d4d80888d1d0bb44fda16da4",
    "8e533b6fa0bf7b4625bb30667c01fb607ef9f8b8a80fef5b300628703187b2a3" +
      "73eb1dbde03318366d069f83a6f5900053c73633cb041b21c55e1a86c1f400b4",
    "ea68d7b6fedf0b71878938d51d71f8729e0acb8c2c6df8b3d79e8a4b90949ee0" +
      "2a2744c972c9fce787014a964a8ea0c84d714feaa4de823fe85a224a4dd048fa",
    "3ed113b7883b4c590638379db0c21cda16742ed0255048bf433391d374bc21d1" +
      "9099209accc4c8a224c843afa4f4c68a090d04da5e9889dae2f8eefce82a3740",
    "177c837ae0ac495a61805df2d85ee2fc792e284b65ead58a98e15d9d46072c01" +
      "63bb58cd4ebea558a24091adb40f4e7226ee14c3a1fb4df39c43bbe2efc7bfd8",
    "f0454dc6971abae7adfb378999888265ae03af92de3a0ef163668c63e59b9d5f" +
      "b5b93ee3592e2d1f4e6594e51f9643e62a3b21ce75b5fa3f47e59cde0d034f36",
    "47776904c0f1cc3a9c0984b66f75301a5fa68678f0d64af8ba1abce34738a73e" +
      "aa005ee6b5b957286231856577648e8381b2804428d5733f32f787ff71f1fcdc",
    "cb6d2861102c0c25ce39b7c17108c507782c452257884895c1fc7b74ab03ed83" +
      "58d7614b24d9ef515c35e7100d6d6ce4a496716e30fa3e03e39150752bcecdaa",
    "3250fcf686637c7b2e4ac86eb473bca53a582139f42b1523fd76364e67399e83" +
      "42e7c342667d359397b3090d1d7eb88c897cd3c33b566a8215de24a071d48c09",
    "0e91c7239c2640d7d28a3e39d4583fa63c0bc0a5df64a4fe672e573045ca7896" +
      "5df65c3b550dba221a22733bb8e0bd6d7e68833575e7a5ae138046543140ad55",
    "3a67e2554b0c0bb685f4f52d8c07fa8441652fc5b76f1b2484a4dc45f200d687" +
      "27d0f1872f1fcf4326daf267163afb0d8c188af735a7618aa9ed16b302f79324",
    "184ffa5819d80d51deba2fac4611f378576355bd683e54abf2e201173b0883d1" +
      "c0a66e276688f359a4c6d90826cb999545bdeccc63f0491620d242c260906e6f",
    "d6d33adefa195b07a7c36da090853b8cfd8cd1c688b58a41dedd693d1c784def" +
      "84aaba16ee195d7e3f78245f558a5dcb09a166ab4b95eded550c124593d1bca6",
    "301d9e502dc7e05da85da026a7ae9aa0fac9db7d52a95b3e3e3f9aa0a1b45b8b" +
      "6551b6f6b3061223e0d23c026b017d72298d9ae46887ca61d58db6aea17ee267",
  ];
}

function gTable(): Addend[] {
  const table: Addend[] = [];
  const multiples = gMultiples();
  for (let i = 0; i < multiples.length; i++) {
    const hex = multiples[i];
    table.push(addend(toMontgomery(limbsFromHex(hex)), toMontgomery(limbsFromHex(hex, 64))));
  }
  return table;
}

/** 1Q, 3Q, ..., 15Q: the table of width-5 NAF digits. */
function qTable(qx: Limbs, qy: Limbs, t: Scratch): Addend[] {
  const table: Addend[] = [addend(qx, qy)];
  const doubled: Jacobian = { x: qx.slice(), y: qy.slice(), z: ONE.slice(), infinity: false };
  double(doubled, t);
  const twice = addend(doubled.x, doubled.y, doubled.z);
  const acc: Jacobian = { x: qx.slice(), y: qy.slice(), z: ONE.slice(), infinity: false };
  for (let i = 1; i < 8; i++) {
    add(acc, twice, false, t);
    table.push(addend(acc.x.slice(), acc.y.slice(), acc.z.slice()));
  }
  return table;
}

/**
 * The width-w NAF of a scalar below 2^256, indexed by bit (257 digits): odd digits of magnitude
 * below 2^(w-1), at least w bits apart (libsecp256k1's secp256k1_ecmult_wnaf).
 */
function naf(scalar: Limbs, w: number): number[] {
  const bits: number[] = [];
  const digits: number[] = [];
  for (let i = 0; i < 257; i++) {
    bits.push((scalar[(i / 24) | 0] >> (i % 24)) & 1);
    digits.push(0);
  }
  let carry = 0;
  let bit = 0;
  while (bit < 257) {
    if (bits[bit] === carry) {
      bit++;
      continue;
    }
    const width = Math.min(w, 257 - bit);
    let word = carry;
    for (let k = 0; k < width; k++) word += bits[bit + k] << k;
    carry = (word >> (w - 1)) & 1;
    digits[bit] = word - (carry << w);
    bit += width;
  }
  return digits;
}

/** u1 G + u2 Q, by Shamir's trick over the NAFs of both scalars. */
function doubleScalarMultiply(u1: Limbs, u2: Limbs, qx: Limbs, qy: Limbs): Jacobian {
  const t = scratch();
  const gs = gTable();
  const qs = qTable(qx, qy, t);
  const nafG = naf(u1, 6);
  const nafQ = naf(u2, 5);
  const acc: Jacobian = { x: zeros(), y: zeros(), z: zeros(), infinity: true };
  for (let bit = 256; bit >= 0; bit--) {
    double(acc, t);
    const g = nafG[bit];
    if (g > 0) add(acc, gs[(g - 1) >> 1], false, t);
    else if (g < 0) add(acc, gs[(-g - 1) >> 1], true, t);
    const q = nafQ[bit];
    if (q > 0) add(acc, qs[(q - 1) >> 1], false, t);
    else if (q < 0) add(acc, qs[(-q - 1) >> 1], true, t);
  }
  return acc;
}

/** Montgomery multiplication mod n: a b R^-1 mod n, below n, for a and b below 2^256. */
function montgomeryModN(a: Limbs, b: Limbs): Limbs {
  const t: number[] = [];
  for (let k = 0; k < 2 * LIMBS; k++) t.push(0);
  for (let i = 0; i < LIMBS; i++) for (let j = 0; j < LIMBS; j++) t[i + j] += a[i] * b[j];
  carryColumns(t);
  for (let i = 0; i < LIMBS; i++) {
    const m = ((t[i] & MASK) * N_FACTOR) & MASK;
    for (let j = 0; j < LIMBS; j++) t[i + j] += m * N[j];
    t[i + 1] += t[i] * INV_RADIX;
  }
  const r = t.slice(LIMBS);
  carryColumns(r);
  if (compare(r, N) >= 0) subInto(r, r, N);
  return r;
}

/** Carries exact non-negative columns into limbs below 2^24, the last one taking the rest. */
function carryColumns(t: number[]): void {
  for (let k = 0; k < t.length - 1; k++) {
    const low = t[k] & MASK;
    t[k + 1] += (t[k] - low) * INV_RADIX;
    t[k] = low;
  }
}

function halve(a: Limbs): void {
  for (let i = 0; i < LIMBS - 1; i++) a[i] = (a[i] >> 1) | ((a[i + 1] & 1) << 23);
  a[LIMBS - 1] >>= 1;
}

function isOne(a: Limbs): boolean {
  if (a[0] !== 1) return false;
  for (let i = 1; i < LIMBS; i++) if (a[i] !== 0) return false;
  return true;
}

/** a^-1 mod n for a in [1, n-1], by the binary extended Euclidean algorithm. */
function invertModN(a: Limbs): Limbs {
  const u = a.slice();
  const v = N.slice();
  const x1 = zeros();
  const x2 = zeros();
  x1[0] = 1;
  // Invariants: x1 a = u and x2 a = v (mod n), x1 and x2 below n.
  while (!isOne(u) && !isOne(v)) {
    while ((u[0] & 1) === 0) {
      halve(u);
      if (x1[0] & 1) addInto(x1, x1, N);
      halve(x1);
    }
    while ((v[0] & 1) === 0) {
      halve(v);
      if (x2[0] & 1) addInto(x2, x2, N);
      halve(x2);
    }
    if (compare(u, v) >= 0) {
      subInto(u, u, v);
      if (subInto(x1, x1, x2)) addInto(x1, x1, N);
    } else {
      subInto(v, v, u);
      if (subInto(x2, x2, x1)) addInto(x2, x2, N);
    }
  }
  return isOne(u) ? x1 : x2;
}

function keyError(message: string) {
  return otaError("signature-invalid", "key: " + message);
}

/** The key's coordinates in the Montgomery domain, after the checks of checkPublicKey. */
function keyPoint(point: Uint8Array): { x: Limbs; y: Limbs } {
  if (point.length !== 65) {
    const compressed = point.length === 33 && (point[0] === 2 || point[0] === 3);
    throw keyError(
      `a P-256 public key is the 65-byte uncompressed point 04 || X || Y, got ${point.length} bytes` +
        (compressed ? " (a compressed point; give the uncompressed one)" : ""),
    );
  }
  if (point[0] !== 4)
    throw keyError(
      `the point starts with 0x${toHex(point.subarray(0, 1))}, not 0x04 (uncompressed)`,
    );
  const x = limbsFromBytes(point, 1);
  const y = limbsFromBytes(point, 33);
  if (compare(x, P) >= 0) throw keyError("X is not below the P-256 field prime");
  if (compare(y, P) >= 0) throw keyError("Y is not below the P-256 field prime");
  const mx = toMontgomery(x);
  const my = toMontgomery(y);
  // y^2 = x^3 - 3x + b
  const left = zeros();
  const right = zeros();
  feSqr(left, my);
  feSqr(right, mx);
  feMul(right, right, mx);
  feLinear(right, 1, right, 3, mx);
  feAdd(right, right, toMontgomery(B));
  if (!feEqual(left, right)) throw keyError("the point is not on the P-256 curve");
  return { x: mx, y: my };
}

/**
 * Throws signature-invalid ("key: ...") unless `point` is a P-256 public key: 65 bytes,
 * 0x04 || X || Y, X and Y below p, on the curve.
 */
export function checkPublicKey(point: Uint8Array): void {
  keyPoint(point);
}

function inScalarRange(a: Limbs): boolean {
  return !isZero(a) && compare(a, N) < 0;
}

/**
 * Whether `signature` (r || s, 32 bytes each, big-endian) is an ECDSA P-256 signature of the
 * SHA-256 `digest` by `publicKey` (the 65-byte uncompressed point, checked as by checkPublicKey).
 * A malformed or out-of-range signature is simply not valid: false, never an exception.
 */
export function verifyP256(
  publicKey: Uint8Array,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  const q = keyPoint(publicKey);
  if (digest.length !== 32)
    throw otaError("internal", `ECDSA P-256 takes a 32-byte SHA-256 digest, got ${digest.length}`);
  if (signature.length !== 64) return false;
  const r = limbsFromBytes(signature, 0);
  const s = limbsFromBytes(signature, 32);
  if (!inScalarRange(r) || !inScalarRange(s)) return false;
  // The inverse of s R^-1 is s^-1 R, which a Montgomery product turns into a plain s^-1 factor.
  const w = invertModN(montgomeryModN(s, ONE_SCALAR));
  const u1 = montgomeryModN(limbsFromBytes(digest, 0), w);
  const u2 = montgomeryModN(r, w);
  const sum = doubleScalarMultiply(u1, u2, q.x, q.y);
  if (sum.infinity) return false;
  // x = X / Z^2 is below p; r = x mod n means x = r, or x = r + n when that is below p.
  const zz = zeros();
  feSqr(zz, sum.z);
  if (affineXIs(sum.x, zz, r)) return true;
  addInto(r, r, N);
  return compare(r, P) < 0 && affineXIs(sum.x, zz, r);
}

/** Whether X / Z^2 = value (mod p), given X and zz = Z^2, without inverting Z. */
function affineXIs(x: Limbs, zz: Limbs, value: Limbs): boolean {
  const scaled = toMontgomery(value);
  feMul(scaled, scaled, zz);
  return feEqual(scaled, x);
}
