import { BlockDigest } from "./block";
import { putUint32BE } from "./int";

function makeTable(): Int32Array {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
}

/** Reflected CRC-32 (IEEE 802.3, polynomial 0xEDB88320), one entry per byte value. */
const TABLE = makeTable();

/**
 * CRC-32 as zlib computes it: `crc32(b, crc32(a)) === crc32(concat(a, b))`, and
 * `crc32(x, 0xFFFFFFFF)` equals Python's `zlib.crc32(x, 0xFFFFFFFF)`, which is what ESP-IDF's
 * `esp_rom_crc32_le(UINT32_MAX, ...)` gives for otadata entries. Returns an unsigned value.
 */
export function crc32(data: Uint8Array, previous = 0): number {
  return crc32Range(data, 0, data.length, previous);
}

function crc32Range(data: Uint8Array, start: number, end: number, previous: number): number {
  let c = ~previous;
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]) & 255] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 as a Digest; its value comes out as 4 bytes big-endian ("cbf43926" for "123456789"). */
export class Crc32 extends BlockDigest {
  private value = 0;

  constructor() {
    // CRC-32 has no blocks: with a block size of 1 every update goes straight to blocks().
    super(1);
  }

  protected blocks(data: Uint8Array, start: number, end: number): void {
    this.value = crc32Range(data, start, end, this.value);
  }

  protected finish(): Uint8Array {
    const out = new Uint8Array(4);
    putUint32BE(out, 0, this.value);
    return out;
  }
}
