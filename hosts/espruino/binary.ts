// Espruino's sockets, http responses and Storage.read speak "binary strings" (one char per byte);
// the ports speak Uint8Array. These convert between the two without TextEncoder.

export function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** Chunked: fromCharCode.apply takes a bounded number of arguments. */
export function binaryOf(bytes: Uint8Array): string {
  let out = "";
  for (let at = 0; at < bytes.length; at += 1024) {
    const part: number[] = [];
    const end = Math.min(at + 1024, bytes.length);
    for (let i = at; i < end; i++) part.push(bytes[i]);
    out += String.fromCharCode.apply(null, part);
  }
  return out;
}
