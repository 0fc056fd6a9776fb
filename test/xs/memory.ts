// A slot, a key-value store and a byte source in memory, portable (no Node import): for the XS
// cases, the Node tests and the benchmarks that run the core's transfer loop without a device.
import { otaError } from "../../src/core/errors";
import type { KeyValueStore, SlotWriter } from "../../src/core/ports";
import type { ByteSource } from "../../src/core/source";
import { fromHex } from "../../src/core/util/bytes";
import { clock, host } from "./runtime";

export class MemorySlot implements SlotWriter {
  readonly name = "ota_1";
  readonly sectorSize = 4096;
  readonly bytes: Uint8Array;
  private position = 0;
  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size).fill(0xff);
  }
  async begin(offset: number) {
    this.position = offset;
    this.bytes.fill(0xff, offset);
  }
  async write(data: Uint8Array) {
    this.bytes.set(data, this.position);
    this.position += data.length;
  }
  async finish() {}
  async abort() {}
  async read(offset: number, length: number) {
    return this.bytes.slice(offset, offset + length);
  }
}

export class MemoryStore implements KeyValueStore {
  private values: Record<string, string> = {};
  async get(key: string) {
    return Object.prototype.hasOwnProperty.call(this.values, key) ? this.values[key] : undefined;
  }
  async set(key: string, value: string) {
    this.values[key] = value;
  }
  async delete(key: string) {
    delete this.values[key];
  }
}

/**
 * Serves `bytes` in pieces of 1..maxPiece bytes (sizes from the harness's seeded random); when
 * `cut.at` is set, the power fails (a fatal error) once a read starts at or past it.
 */
export function chunkedSource(
  bytes: Uint8Array,
  maxPiece: number,
  cut: { at?: number } = {},
): ByteSource & { opened: number[] } {
  const opened: number[] = [];
  return {
    opened,
    async open(offset: number) {
      opened.push(offset);
      let at = offset;
      return {
        offset,
        async read() {
          if (cut.at !== undefined && at >= cut.at) throw otaError("internal", "power cut");
          if (at >= bytes.length) return null;
          const end = Math.min(bytes.length, at + 1 + Math.floor(clock.random() * maxPiece));
          const chunk = bytes.slice(at, end);
          at = end;
          return chunk;
        },
        close() {},
      };
    },
  };
}

/** The Node side's last image (appImage, deltaVector), fetched in 2 KiB slices. */
export function hostImage(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 2048) {
    bytes.set(fromHex(host<string>("imageSlice", { offset: at, length: 2048 }))!, at);
  }
  return bytes;
}
