// A JSON record in the key-value store, guarded by a CRC32 so that a torn or forged value is
// recognised. An unreadable record is reported as absent, never trusted and never fatal.
import { crc32 } from "./hash/crc32";
import type { KeyValueStore, Logger } from "./ports";
import { toHex, utf8Encode } from "./util/bytes";

function checksum(text: string): string {
  const value = crc32(utf8Encode(text));
  return toHex(
    new Uint8Array([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]),
  );
}

export class CheckedRecord<T> {
  constructor(
    private readonly store: KeyValueStore,
    /** At most 15 characters (NVS). */
    private readonly key: string,
    private readonly logger: Logger,
  ) {}

  async load(): Promise<T | undefined> {
    let raw: string | undefined;
    try {
      raw = await this.store.get(this.key);
    } catch (error) {
      this.logger.log("warn", `cannot read ${this.key}; treated as absent`, {
        error: String(error),
      });
      return undefined;
    }
    if (raw === undefined) return undefined;
    const bar = raw.lastIndexOf("|");
    const body = bar < 0 ? "" : raw.substring(0, bar);
    if (bar < 0 || checksum(body) !== raw.substring(bar + 1)) {
      this.logger.log("warn", `${this.key} fails its checksum; discarded`);
      await this.clear();
      return undefined;
    }
    try {
      return JSON.parse(body) as T;
    } catch {
      this.logger.log("warn", `${this.key} is not JSON; discarded`);
      await this.clear();
      return undefined;
    }
  }

  async save(value: T): Promise<void> {
    const body = JSON.stringify(value);
    await this.store.set(this.key, body + "|" + checksum(body));
  }

  async clear(): Promise<void> {
    await this.store.delete(this.key);
  }
}
