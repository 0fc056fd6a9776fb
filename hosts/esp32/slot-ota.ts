// The inactive slot through the legacy "ota" module, for SDKs without embedded:update (build with
// OTAFLOW_SLOT=ota). That module is append-only: every OTA instance starts at byte 0 and erases
// sectors as its writes reach them. So a download resumes only within the boot that started it
// (the bytes the network sends again below the point already written are dropped); after a reboot
// there is no resume, and begin() at a non-zero offset fails, which ends the attempt and clears the
// journal, so the next attempt downloads the image from the start.
import OTA from "ota";
import { otaError } from "../../src/core/errors";
import { openLegacyPartition, type ReadablePartition } from "./partition-legacy";
import { checkBegin, checkRead, checkWrite, messageOf, type StagedSlot } from "./slot-common";

class OtaSlot implements StagedSlot {
  readonly size: number;
  readonly sectorSize: number;
  private readonly partition: ReadablePartition;
  private ota: OTA | undefined;
  /** Bytes the current OTA instance has written, from 0. */
  private written = 0;
  private writing = false;
  private position = 0;
  private total = 0;

  constructor(readonly name: string) {
    this.partition = openLegacyPartition("nextota");
    this.size = this.partition.size;
    this.sectorSize = this.partition.blockSize;
  }

  async begin(offset: number, totalSize: number): Promise<void> {
    checkBegin(this, offset, totalSize);
    if (offset === 0) {
      this.cancel();
      try {
        this.ota = new OTA({ byteLength: totalSize });
      } catch (error) {
        throw otaError("flash", `cannot open ${this.name} for update: ${messageOf(error)}`);
      }
      this.written = 0;
    } else if (!this.ota || offset > this.written) {
      throw otaError(
        "flash",
        `the legacy ota module writes ${this.name} from byte 0 only and cannot resume at byte ` +
          `${offset} after a reboot; the image will be downloaded again from the start`,
      );
    }
    this.position = offset;
    this.total = totalSize;
    this.writing = true;
  }

  async write(data: Uint8Array): Promise<void> {
    if (!this.writing || !this.ota)
      throw otaError("internal", `${this.name}: write() without begin()`);
    if (data.length === 0) return;
    checkWrite(this, this.position, this.total, data);
    const end = this.position + data.length;
    // The same image's bytes, sent again after a dropped connection, are already in the slot.
    const fresh = end > this.written ? data.subarray(this.written - this.position) : undefined;
    if (fresh) {
      try {
        this.ota.write(fresh);
      } catch (error) {
        throw otaError("flash", `writing ${this.name} at ${this.written}: ${messageOf(error)}`);
      }
      this.written = end;
    }
    this.position = end;
  }

  async finish(): Promise<void> {
    if (!this.writing) throw otaError("internal", `${this.name}: finish() without begin()`);
    this.writing = false;
    if (this.position !== this.total)
      throw otaError(
        "body-short",
        `${this.name} holds ${this.position} of the ${this.total} bytes announced`,
      );
  }

  async abort(): Promise<void> {
    this.writing = false;
    this.cancel();
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRead(this, offset, length);
    return this.partition.read(offset, length);
  }

  stage(): void {
    if (this.writing) throw otaError("internal", `${this.name}: stage() before finish()`);
    const ota = this.ota;
    if (!ota)
      throw otaError(
        "flash",
        `the legacy ota module can stage only an image written since this boot; ${this.name} ` +
          "must be downloaded again",
      );
    this.ota = undefined;
    try {
      ota.complete();
    } catch (error) {
      const message = messageOf(error);
      throw otaError(
        message === "end failed" ? "image-invalid" : "flash",
        `${this.name}: ${message === "end failed" ? "esp_ota_end refused the image" : message}`,
      );
    }
  }

  private cancel(): void {
    const ota = this.ota;
    this.ota = undefined;
    if (ota) ota.cancel();
  }
}

export function openSlot(name: string): StagedSlot {
  return new OtaSlot(name);
}

export function readRunning(length: number): Uint8Array {
  return openLegacyPartition("running").read(0, length);
}
