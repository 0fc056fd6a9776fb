// The inactive slot through ECMA-419 embedded:update, written at offsets ("w" mode) so that a
// download resumes where the journal says, even after a reboot.
//
// ESP-IDF's esp_ota_begin in that mode erases [0, byteLength) of the slot before anything is
// written (esp_ota_ops.c), and a resume after a reboot needs a fresh begin: opening with the image
// size would wipe the prefix the journal counts on. So the updater is opened with byteLength of
// one sector (ESP-IDF erases only sector 0), the first sector is put back from a copy read just
// before, and every later sector is erased here, just ahead of the bytes, as
// OTA_WITH_SEQUENTIAL_WRITES would. A power cut between the erase of sector 0 and its rewrite
// leaves the image without its header: the core's final checks then fail and the download starts
// over; nothing bootable is ever half-written, since otadata changes only in stage().
import Update from "embedded:update";
import type { Updater } from "embedded:update";
import { otaError } from "../../src/core/errors";
import type { SlotReader } from "../../src/core/ports";
import { openPartition, type FlashPartition } from "./partition";
import { checkBegin, checkWrite, messageOf, SlotSession, type StagedSlot } from "./slot-common";

class UpdateSlot extends SlotSession<FlashPartition> {
  /** Open since begin() in this boot; esp_ota_abort'ed by abort(). */
  private updater: Updater | undefined;
  /** Slot offset up to which this boot has erased ahead of the writes. */
  private erasedTo = 0;

  constructor(name: string) {
    super(name, openPartition("nextota", "r+"));
  }

  async begin(offset: number, totalSize: number): Promise<void> {
    checkBegin(this, offset, totalSize);
    if (this.updater) this.erasedTo = offset;
    else this.erasedTo = this.open(offset > 0) ? offset : this.sectorSize;
    this.startSession(offset, totalSize);
  }

  async write(data: Uint8Array): Promise<void> {
    if (!this.writing || !this.updater)
      throw otaError("internal", `${this.name}: write() without begin()`);
    if (data.length === 0) return;
    checkWrite(this, this.position, this.total, data);
    const end = this.position + data.length;
    const eraseTo = Math.ceil(end / this.sectorSize) * this.sectorSize;
    try {
      if (eraseTo > this.erasedTo) {
        this.partition.erase(this.erasedTo, eraseTo);
        this.erasedTo = eraseTo;
      }
      this.updater.write(data, this.position);
    } catch (error) {
      throw otaError("flash", `writing ${this.name} at ${this.position}: ${messageOf(error)}`);
    }
    this.position = end;
  }

  async abort(): Promise<void> {
    this.writing = false;
    this.close();
  }

  stage(): void {
    if (this.writing) throw otaError("internal", `${this.name}: stage() before finish()`);
    // After a reboot (the image was verified, then power was cut) the updater is gone: reopen it
    // without losing the image.
    if (!this.updater) this.open(true);
    const updater = this.updater!;
    try {
      updater.complete();
    } catch (error) {
      throw this.completeFailure(error);
    } finally {
      this.close();
    }
  }

  /** esp_ota_begin over sector 0 only; `keep` puts sector 0 back. Returns `keep`. */
  private open(keep: boolean): boolean {
    const first = keep ? this.partition.read(0, this.sectorSize) : undefined;
    try {
      this.updater = Update.open({
        partition: this.partition.flash,
        mode: "w",
        byteLength: this.sectorSize,
      });
      if (first) this.updater.write(first, 0);
    } catch (error) {
      this.close();
      // ESP-IDF refuses to begin while the running image is still on trial.
      throw otaError(
        "flash",
        `cannot open ${this.name} for update (${messageOf(error)}); a running image that is ` +
          "still pending verification must confirm itself first",
      );
    }
    return keep;
  }

  private close(): void {
    const updater = this.updater;
    this.updater = undefined;
    if (updater) updater.close();
  }
}

/** The slot esp_ota_get_next_update_partition gives, named `name` (e.g. "ota_1"). */
export function openSlot(name: string): StagedSlot {
  return new UpdateSlot(name);
}

/** The running slot, read-only: the base a delta is applied to. */
export function openRunning(): SlotReader {
  const running = openPartition("running", "r");
  return {
    name: "running",
    size: running.size,
    read: (offset, length) => Promise.resolve(running.read(offset, length)),
  };
}

/** The running image's first bytes (header and app descriptor). */
export function readRunning(length: number): Uint8Array {
  const running = openPartition("running", "r");
  try {
    return running.read(0, length);
  } finally {
    running.flash.close();
  }
}
