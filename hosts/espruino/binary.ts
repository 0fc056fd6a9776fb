// Espruino's sockets, http responses and Storage.read speak "binary strings" (one char per byte);
// the ports speak Uint8Array. E.toUint8Array and E.toString convert natively: no JavaScript runs
// per byte, and no Function.apply, which takes at most 256 arguments (docs/ENGINES.md).

export function bytesOf(text: string): Uint8Array {
  return E.toUint8Array(text);
}

export function binaryOf(bytes: Uint8Array): string {
  return E.toString(bytes);
}
