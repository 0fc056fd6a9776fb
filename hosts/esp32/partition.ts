// An app partition through ECMA-419 embedded:storage/flash. "running" and "nextota" are the names
// the ESP32 implementation gives the running slot and esp_ota_get_next_update_partition's slot.
import flashStorage from "embedded:storage/flash";
import type { Flash } from "embedded:storage/flash";

export interface FlashPartition {
  readonly flash: Flash;
  readonly size: number;
  /** Erase unit (4096 bytes on ESP32). */
  readonly blockSize: number;
  read(offset: number, length: number): Uint8Array;
  /** Erases the blocks covering [from, to) bytes; both are multiples of blockSize. */
  erase(from: number, to: number): void;
}

export function openPartition(path: "running" | "nextota", mode: "r" | "r+"): FlashPartition {
  const flash = flashStorage.open({ path, mode });
  const status = flash.status();
  const blockSize = status.blockLength;
  return {
    flash,
    size: status.size,
    blockSize,
    read: (offset, length) => new Uint8Array(flash.read(length, offset)),
    erase: (from, to) => {
      if (to > from) flash.eraseBlock(from / blockSize, to / blockSize);
    },
  };
}
