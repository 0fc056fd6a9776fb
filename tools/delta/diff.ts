// The body of a detools sequential patch: size 0 (no data-format patch), then triples of diff data
// (target minus base, byte-wise, at the current base offset), extra data (target bytes as they
// are) and a signed adjustment of the base offset. The triples are chosen the way bsdiff chooses
// them (Colin Percival's scan: a new alignment when an exact match beats the current alignment by
// more than 8 bytes, then each region is split where the diff stops paying), with a hash index of
// 8-byte strings in the base in place of bsdiff's suffix array.

import { concatBytes } from "../../src/core/util/bytes";

const KEY = 8;
const TABLE_BITS = 20;
const CANDIDATES = 64;

export function packSize(value: number): number[] {
  const out: number[] = [];
  let v = Math.abs(value);
  let first = (value < 0 ? 0x40 : 0) | (v % 64);
  v = Math.floor(v / 64);
  if (v > 0) first |= 0x80;
  out.push(first);
  while (v > 0) {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) byte |= 0x80;
    out.push(byte);
  }
  return out;
}

class Output {
  private parts: Uint8Array[] = [];
  private small: number[] = [];

  size(value: number): void {
    for (const byte of packSize(value)) this.small.push(byte);
  }

  bytes(data: Uint8Array): void {
    this.flushSmall();
    this.parts.push(data);
  }

  private flushSmall(): void {
    if (this.small.length > 0) this.parts.push(Uint8Array.from(this.small));
    this.small = [];
  }

  finish(): Uint8Array {
    this.flushSmall();
    return concatBytes(this.parts);
  }
}

function hashAt(data: Uint8Array, at: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < KEY; i++) h = Math.imul(h ^ data[at + i], 0x01000193);
  return (h >>> (32 - TABLE_BITS)) & ((1 << TABLE_BITS) - 1);
}

/** Positions of the base's 8-byte strings, most recent first in each chain. */
class BaseIndex {
  private readonly head = new Int32Array(1 << TABLE_BITS).fill(-1);
  private readonly next: Int32Array;

  constructor(private readonly from: Uint8Array) {
    this.next = new Int32Array(Math.max(from.length, 1)).fill(-1);
    for (let at = from.length - KEY; at >= 0; at--) {
      const h = hashAt(from, at);
      this.next[at] = this.head[h];
      this.head[h] = at;
    }
  }

  /** The longest exact match of to[scan...] in the base, trying the current alignment first. */
  search(to: Uint8Array, scan: number, aligned: number): { length: number; pos: number } {
    const from = this.from;
    const limit = to.length - scan;
    const extend = (pos: number) => {
      const max = Math.min(limit, from.length - pos);
      let n = 0;
      while (n < max && from[pos + n] === to[scan + n]) n++;
      return n;
    };
    let best = { length: 0, pos: 0 };
    if (aligned >= 0 && aligned < from.length) best = { length: extend(aligned), pos: aligned };
    if (limit < KEY) return best;
    let tries = 0;
    for (let c = this.head[hashAt(to, scan)]; c >= 0 && tries < CANDIDATES; c = this.next[c]) {
      tries++;
      const n = extend(c);
      if (n > best.length) best = { length: n, pos: c };
      if (n === limit) break;
    }
    return best;
  }
}

export function diffBody(from: Uint8Array, to: Uint8Array): Uint8Array {
  const out = new Output();
  out.size(0);
  const index = new BaseIndex(from);
  let scan = 0;
  let length = 0;
  let pos = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  while (scan < to.length) {
    let oldScore = 0;
    scan += length;
    let scsc = scan;
    for (; scan < to.length; scan++) {
      const found = index.search(to, scan, scan + lastOffset);
      length = found.length;
      pos = found.pos;
      for (; scsc < scan + length; scsc++) {
        if (scsc + lastOffset < from.length && from[scsc + lastOffset] === to[scsc]) oldScore++;
      }
      if ((length === oldScore && length !== 0) || length > oldScore + 8) break;
      if (scan + lastOffset < from.length && from[scan + lastOffset] === to[scan]) oldScore--;
    }
    if (length !== oldScore || scan === to.length) {
      // Forward from the last match: how far the old alignment is worth a diff.
      let s = 0;
      let best = 0;
      let lenF = 0;
      for (let i = 0; lastScan + i < scan && lastPos + i < from.length;) {
        if (from[lastPos + i] === to[lastScan + i]) s++;
        i++;
        if (s * 2 - i > best * 2 - lenF) {
          best = s;
          lenF = i;
        }
      }
      // Backward from the new match: how much before it belongs to it.
      let lenB = 0;
      if (scan < to.length) {
        s = 0;
        best = 0;
        for (let i = 1; scan >= lastScan + i && pos >= i; i++) {
          if (from[pos - i] === to[scan - i]) s++;
          if (s * 2 - i > best * 2 - lenB) {
            best = s;
            lenB = i;
          }
        }
      }
      const overlap = lastScan + lenF - (scan - lenB);
      if (overlap > 0) {
        s = 0;
        let bestS = 0;
        let lens = 0;
        for (let i = 0; i < overlap; i++) {
          if (to[lastScan + lenF - overlap + i] === from[lastPos + lenF - overlap + i]) s++;
          if (to[scan - lenB + i] === from[pos - lenB + i]) s--;
          if (s > bestS) {
            bestS = s;
            lens = i + 1;
          }
        }
        lenF += lens - overlap;
        lenB -= lens;
      }
      const diff = new Uint8Array(lenF);
      for (let i = 0; i < lenF; i++) diff[i] = (to[lastScan + i] - from[lastPos + i]) & 255;
      out.size(lenF);
      out.bytes(diff);
      const extraAt = lastScan + lenF;
      const extraLength = scan - lenB - extraAt;
      out.size(extraLength);
      out.bytes(to.slice(extraAt, extraAt + extraLength));
      out.size(pos - lenB - (lastPos + lenF));
      lastScan = scan - lenB;
      lastPos = pos - lenB;
      lastOffset = pos - scan;
    }
  }
  return out.finish();
}
