// A slot and a key-value store in memory, portable (no Node import): for the XS cases, the Node
// tests and the benchmarks that run the core's transfer loop without a device.
import type { KeyValueStore, SlotWriter } from "../../src/core/ports";

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
