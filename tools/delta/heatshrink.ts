// A heatshrink encoder (LZSS as atomicobject/heatshrink packs it: tag bit 1 + 8-bit literal, or tag
// bit 0 + `window` bits of distance - 1 + `lookahead` bits of length - 1, most significant bit
// first, the last byte padded with zeros). Greedy longest match over the window, found through
// hash chains of 2-byte prefixes; any valid stream decodes with heatshrink's own decoder.

class BitWriter {
  private bytes: number[] = [];
  private current = 0;
  private used = 0;

  put(value: number, count: number): void {
    for (let bit = count - 1; bit >= 0; bit--) {
      this.current = (this.current << 1) | ((value >> bit) & 1);
      if (++this.used === 8) {
        this.bytes.push(this.current);
        this.current = 0;
        this.used = 0;
      }
    }
  }

  finish(): Uint8Array {
    if (this.used > 0) this.bytes.push(this.current << (8 - this.used));
    return Uint8Array.from(this.bytes);
  }
}

export function heatshrinkEncode(data: Uint8Array, windowBits = 8, lookaheadBits = 7): Uint8Array {
  const window = 1 << windowBits;
  const maxLength = 1 << lookaheadBits;
  // A back-reference costs 1 + window + lookahead bits, a literal 9: shorter matches do not pay.
  const minLength = Math.floor((1 + windowBits + lookaheadBits) / 9) + 1;
  const head = new Int32Array(65536).fill(-1);
  const prev = new Int32Array(data.length).fill(-1);
  const out = new BitWriter();
  const key = (at: number) => (data[at] << 8) | data[at + 1];
  const insert = (at: number) => {
    if (at + 1 >= data.length) return;
    const k = key(at);
    prev[at] = head[k];
    head[k] = at;
  };
  let i = 0;
  while (i < data.length) {
    let bestLength = 0;
    let bestDistance = 0;
    if (i + 1 < data.length) {
      const limit = Math.min(maxLength, data.length - i);
      for (let c = head[key(i)]; c >= 0 && i - c <= window; c = prev[c]) {
        let n = 0;
        while (n < limit && data[c + n] === data[i + n]) n++;
        if (n > bestLength) {
          bestLength = n;
          bestDistance = i - c;
          if (n === limit) break;
        }
      }
    }
    if (bestLength >= minLength) {
      out.put(0, 1);
      out.put(bestDistance - 1, windowBits);
      out.put(bestLength - 1, lookaheadBits);
      for (let k = 0; k < bestLength; k++) insert(i + k);
      i += bestLength;
    } else {
      out.put(1, 1);
      out.put(data[i], 8);
      insert(i);
      i++;
    }
  }
  return out.finish();
}
