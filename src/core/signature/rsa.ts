// RSA-3072 with PSS (SHA-256, MGF1-SHA-256, 32-byte salt) as Secure Boot V2 uses it, in portable
// arithmetic: no BigInt and no Math.imul, every intermediate value an exact integer below 2^53, so
// the same code runs on XS, on Espruino (ES5) and on Node. Public data only, so nothing here is
// constant-time.
//
// Numbers are 128 little-endian limbs of 24 bits in Int32Arrays (flat in Espruino, where a plain
// array is a list, and integer slots in XS); R = 2^3072, which is exactly 128 limbs, so the
// Montgomery constants of a Secure Boot V2 key (R^2 mod n, -n^-1 mod 2^32) serve these limbs as
// they are. The multiplication is interleaved (one pass per limb of a, multiply and reduce
// together): a step's sum, a limb plus two products of limbs plus a carry, stays below 2^50, and
// `& MASK` takes its low 24 bits exactly (ToInt32 is modulo 2^32 of the exact integer). A
// verification with e = 65537 costs 19 such multiplications.
import { Sha256 } from "../hash/sha256";

/** Bytes in a modulus, a signature, R^2 mod n: 3072 bits. */
export const RSA_BYTES = 384;
const LIMBS = 128;
const MASK = 0xffffff;
const INV_RADIX = 1 / 0x1000000;
const HASH_BYTES = 32;
const SALT_BYTES = 32;

type Limbs = Int32Array;

/** The 384 little-endian bytes at `offset` as limbs. */
function limbsFromLE(bytes: Uint8Array, offset: number): Limbs {
  const out = new Int32Array(LIMBS);
  for (let i = 0; i < LIMBS; i++) {
    const at = offset + 3 * i;
    out[i] = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
  }
  return out;
}

function limbsToBE(a: Limbs): Uint8Array {
  const out = new Uint8Array(RSA_BYTES);
  for (let i = 0; i < LIMBS; i++) {
    const at = RSA_BYTES - 1 - 3 * i;
    out[at] = a[i] & 0xff;
    out[at - 1] = (a[i] >> 8) & 0xff;
    out[at - 2] = (a[i] >> 16) & 0xff;
  }
  return out;
}

/** -1, 0 or 1 as a is below, equal to or above b. */
function compare(a: Limbs, b: Limbs): number {
  for (let i = LIMBS - 1; i >= 0; i--) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

/** a -= b, modulo 2^3072. */
function subtractInPlace(a: Limbs, b: Limbs): void {
  let borrow = 0;
  for (let i = 0; i < LIMBS; i++) {
    const x = a[i] - b[i] - borrow;
    borrow = x < 0 ? 1 : 0;
    a[i] = x & MASK;
  }
}

/** A modulus with what its Montgomery multiplication needs; `scratch` is reused by every product. */
interface Modulus {
  n: Limbs;
  /** -n^-1 mod 2^24. */
  factor: number;
  scratch: Limbs;
}

function modulus(n: Limbs, factor: number): Modulus {
  return { n, factor, scratch: new Int32Array(LIMBS + 1) };
}

/** r = a * b / R mod n, for a and b below n; r may be a or b. */
function montgomery(r: Limbs, a: Limbs, b: Limbs, m: Modulus): void {
  const n = m.n;
  const t = m.scratch;
  for (let i = 0; i <= LIMBS; i++) t[i] = 0;
  for (let i = 0; i < LIMBS; i++) {
    const ai = a[i];
    let x = t[0] + ai * b[0];
    const q = ((x & MASK) * m.factor) & MASK;
    // x + q n[0] is a multiple of 2^24 by the choice of q.
    let carry = (x + q * n[0]) * INV_RADIX;
    for (let j = 1; j < LIMBS; j++) {
      x = t[j] + ai * b[j] + q * n[j] + carry;
      const low = x & MASK;
      t[j - 1] = low;
      carry = (x - low) * INV_RADIX;
    }
    x = t[LIMBS] + carry;
    const low = x & MASK;
    t[LIMBS - 1] = low;
    t[LIMBS] = (x - low) * INV_RADIX;
  }
  // t < 2n: one subtraction brings it below n.
  let above = t[LIMBS] !== 0;
  if (!above) {
    above = true;
    for (let i = LIMBS - 1; i >= 0; i--) {
      if (t[i] !== n[i]) {
        above = t[i] > n[i];
        break;
      }
    }
  }
  for (let i = 0; i < LIMBS; i++) r[i] = t[i];
  if (above) subtractInPlace(r, n);
}

/** -n^-1 mod 2^32 for an odd n given by its low 32 bits, by Newton's iteration. */
function negatedInverse32(low: number): number {
  let inverse = low; // right to 3 bits for odd n
  for (let i = 0; i < 5; i++) inverse = mul32(inverse, 2 + 0x100000000 - mul32(low, inverse));
  return (0x100000000 - inverse) % 0x100000000;
}

/** a * b mod 2^32, exact for unsigned 32-bit a and b. */
function mul32(a: number, b: number): number {
  const aLow = a % 0x10000;
  const aHigh = (a - aLow) / 0x10000;
  const bLow = b % 0x10000;
  const bHigh = ((b % 0x100000000) - bLow) / 0x10000;
  const cross = (aHigh * bLow + aLow * bHigh) % 0x10000;
  return (cross * 0x10000 + aLow * bLow) % 0x100000000;
}

/**
 * The Montgomery constants of a 3072-bit modulus as Secure Boot V2 stores them: R^2 mod n (384
 * bytes little-endian, `rinv` in espsecure) and -n^-1 mod 2^32 (`mdash`). `modulusLE` is n in 384
 * little-endian bytes, its top bit set and odd.
 */
export function rsaMontgomeryConstants(modulusLE: Uint8Array): { rr: Uint8Array; factor: number } {
  const n = limbsFromLE(modulusLE, 0);
  const low32 =
    modulusLE[0] + modulusLE[1] * 0x100 + modulusLE[2] * 0x10000 + modulusLE[3] * 0x1000000;
  const factor = negatedInverse32(low32);
  const m = modulus(n, factor & MASK);
  // R mod n = 2^3072 - n, as n > 2^3071; doubled 24 times it is 2^24 R, and each Montgomery
  // squaring of 2^k R gives 2^2k R: seven of them reach 2^3072 R = R^2.
  const x = new Int32Array(LIMBS);
  subtractInPlace(x, n);
  for (let step = 0; step < 24; step++) {
    let carry = 0;
    for (let i = 0; i < LIMBS; i++) {
      const doubled = x[i] * 2 + carry;
      x[i] = doubled & MASK;
      carry = doubled >> 24;
    }
    if (carry || compare(x, n) >= 0) subtractInPlace(x, n);
  }
  for (let step = 0; step < 7; step++) montgomery(x, x, x, m);
  const rr = new Uint8Array(RSA_BYTES);
  const be = limbsToBE(x);
  for (let i = 0; i < RSA_BYTES; i++) rr[i] = be[RSA_BYTES - 1 - i];
  return { rr, factor };
}

/** A Secure Boot V2 RSA key as its block holds it, all little-endian. */
export interface RsaKey {
  modulus: Uint8Array;
  exponent: number;
  /** R^2 mod n. */
  rr: Uint8Array;
  /** -n^-1 mod 2^32. */
  factor: number;
}

/** s^e mod n as 384 big-endian bytes, or undefined when s is not below n. */
function publicOperation(key: RsaKey, signatureLE: Uint8Array): Uint8Array | undefined {
  const m = modulus(limbsFromLE(key.modulus, 0), key.factor & MASK);
  const s = limbsFromLE(signatureLE, 0);
  if (compare(s, m.n) >= 0) return undefined;
  const base = new Int32Array(LIMBS);
  montgomery(base, s, limbsFromLE(key.rr, 0), m);
  const acc = new Int32Array(LIMBS);
  for (let i = 0; i < LIMBS; i++) acc[i] = base[i];
  // The exponent's bits, high to low, by halving (exact, where Math.pow is not on every engine).
  const bits: number[] = [];
  for (let e = key.exponent; e > 0; e = (e - (e % 2)) / 2) bits.unshift(e % 2);
  for (let bit = 1; bit < bits.length; bit++) {
    montgomery(acc, acc, acc, m);
    if (bits[bit] === 1) montgomery(acc, acc, base, m);
  }
  const one = new Int32Array(LIMBS);
  one[0] = 1;
  montgomery(acc, acc, one, m);
  return limbsToBE(acc);
}

/** MGF1 with SHA-256: `length` bytes of mask from `seed`. */
function mgf1(seed: Uint8Array, length: number): Uint8Array {
  const mask = new Uint8Array(length);
  const counter = new Uint8Array(4);
  for (let at = 0, count = 0; at < length; count++) {
    counter[3] = count;
    const sha = new Sha256();
    sha.update(seed);
    sha.update(counter);
    const block = sha.digest();
    for (let i = 0; i < HASH_BYTES && at < length; i++) mask[at++] = block[i];
  }
  return mask;
}

/**
 * Whether `signatureLE` (384 bytes little-endian, as a Secure Boot V2 block holds it) is an
 * RSASSA-PSS signature of the SHA-256 `digest` by `key`, with MGF1-SHA-256 and a 32-byte salt as
 * espsecure signs and the ROM verifies. Never throws on a bad signature: false.
 */
export function verifyRsaPss(key: RsaKey, digest: Uint8Array, signatureLE: Uint8Array): boolean {
  if (key.modulus.length !== RSA_BYTES || signatureLE.length !== RSA_BYTES) return false;
  if (!(key.modulus[RSA_BYTES - 1] & 0x80) || !(key.modulus[0] & 1)) return false;
  const em = publicOperation(key, signatureLE);
  if (!em) return false;
  // EMSA-PSS-VERIFY with emBits = 3071: em = maskedDB (351) || H (32) || 0xbc, top bit clear.
  const dbLength = RSA_BYTES - HASH_BYTES - 1;
  if (em[RSA_BYTES - 1] !== 0xbc || em[0] & 0x80) return false;
  const h = em.subarray(dbLength, dbLength + HASH_BYTES);
  const db = mgf1(h, dbLength);
  for (let i = 0; i < dbLength; i++) db[i] ^= em[i];
  db[0] &= 0x7f;
  const separator = dbLength - SALT_BYTES - 1;
  for (let i = 0; i < separator; i++) if (db[i] !== 0) return false;
  if (db[separator] !== 1) return false;
  const sha = new Sha256();
  sha.update(new Uint8Array(8));
  sha.update(digest);
  sha.update(db.subarray(separator + 1));
  const expected = sha.digest();
  for (let i = 0; i < HASH_BYTES; i++) if (expected[i] !== h[i]) return false;
  return true;
}
