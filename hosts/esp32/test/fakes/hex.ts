// Bytes to and from hex for the host operations. The core's toHex appends to a string byte by
// byte, which XS makes quadratic: fine for a digest, far too slow for whole images.
const DIGITS: string[] = [];
for (let i = 0; i < 256; i++) DIGITS.push((i < 16 ? "0" : "") + i.toString(16));

export function hexOf(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i++) parts.push(DIGITS[bytes[i]]);
  return parts.join("");
}

export function bytesOf(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}
