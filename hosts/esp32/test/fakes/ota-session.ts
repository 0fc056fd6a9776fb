// One esp_ota_begin .. esp_ota_end session of ESP-IDF's app_update (esp_ota_ops.c), over the
// board's "nextota" slot: what both embedded:update and the legacy ota module drive.
import { hexOf } from "./hex";
import { call, CHUNK_BYTES, nativeError } from "./board";

const SECTOR = 4096;

export class OtaSession {
  /** ESP-IDF's wrote_size. */
  wrote = 0;
  readonly sequential: boolean;

  /** `eraseLength`: esp_ota_begin's image_size (0 erases the whole slot); ignored when sequential. */
  constructor(sequential: boolean, eraseLength: number) {
    this.sequential = sequential;
    // Throws "begin failed" while the running image is pending verification.
    call("esp32.otaBegin", { sequential, eraseLength });
  }

  /** esp_ota_write: erases the sectors the bytes reach, checks the magic byte at offset 0. */
  write(data: Uint8Array): void {
    if (this.sequential) {
      const first = Math.floor(this.wrote / SECTOR);
      const last = Math.floor((this.wrote + data.length) / SECTOR);
      if (this.wrote % SECTOR === 0) this.erase(this.wrote, (last - first + 1) * SECTOR);
      else if (first !== last) this.erase((first + 1) * SECTOR, (last - first) * SECTOR);
    }
    if (this.wrote === 0 && data.length > 0 && data[0] !== 0xe9) throw new Error("write failed");
    this.program(data, this.wrote);
  }

  /** esp_ota_write_with_offset: no erase, no magic check. */
  writeAt(data: Uint8Array, offset: number): void {
    this.program(data, offset);
  }

  /** esp_ota_end then esp_ota_set_boot_partition. */
  complete(): void {
    if (this.wrote === 0) throw new Error("end failed");
    call("esp32.otaEnd", {});
  }

  private erase(offset: number, length: number): void {
    try {
      call("esp32.erase", { path: "nextota", offset, length });
    } catch (error) {
      throw nativeError(error, "write failed");
    }
  }

  private program(data: Uint8Array, offset: number): void {
    try {
      for (let at = 0; at < data.length; at += CHUNK_BYTES) {
        const piece = data.subarray(at, at + CHUNK_BYTES);
        call("esp32.write", { path: "nextota", offset: offset + at, hex: hexOf(piece) });
      }
    } catch (error) {
      throw nativeError(error, "write failed");
    }
    this.wrote += data.length;
  }
}
