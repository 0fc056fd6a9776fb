// 32-bit integer helpers shared by the hashes. Espruino has no Math.imul, so multiplication is
// done in 16-bit halves, each partial product staying exact in a double.

/** The low 32 bits of a * b, as a signed 32-bit integer. */
export function mul32(a: number, b: number): number {
  return ((a & 0xffff) * b + ((((a >>> 16) * b) & 0xffff) << 16)) | 0;
}

/** Writes `value` as 4 bytes big-endian at `offset`. */
export function putUint32BE(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = value >>> 16;
  out[offset + 2] = value >>> 8;
  out[offset + 3] = value;
}

/** Writes `value` as 4 bytes little-endian at `offset`. */
export function putUint32LE(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value;
  out[offset + 1] = value >>> 8;
  out[offset + 2] = value >>> 16;
  out[offset + 3] = value >>> 24;
}
