import type { KeyValueStore, Logger } from "../../src/core/ports";

/** A key-value store in memory, with NVS's limits, for unit tests of what sits on top of one. */
export class MemoryStore implements KeyValueStore {
  readonly data = new Map<string, string>();
  async get(key: string) {
    return this.data.get(key);
  }
  async set(key: string, value: string) {
    if (key.length > 15) throw new Error(`key "${key}" is longer than 15 characters`);
    if (Buffer.byteLength(value) > 4000) throw new Error(`value of ${key} is over 4000 bytes`);
    this.data.set(key, value);
  }
  async delete(key: string) {
    this.data.delete(key);
  }
}

export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (level, message) => lines.push(`${level}: ${message}`) };
}
