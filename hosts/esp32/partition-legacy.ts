// An app partition through the legacy "flash" module, for SDKs or boards without
// embedded:storage/flash. It knows the same two app slot names, "running" and "nextota".
import Flash from "flash";

export interface ReadablePartition {
  readonly size: number;
  readonly blockSize: number;
  read(offset: number, length: number): Uint8Array;
}

export function openLegacyPartition(name: "running" | "nextota"): ReadablePartition {
  const flash = new Flash(name);
  return {
    size: flash.byteLength,
    blockSize: flash.blockSize,
    read: (offset, length) => new Uint8Array(flash.read(offset, length) as ArrayBuffer),
  };
}
