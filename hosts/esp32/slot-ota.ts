// The inactive slot through the legacy "ota" module, for SDKs without embedded:update (build with
// OTAFLOW_SLOT=ota). That module is append-only: every OTA instance starts at byte 0 and erases
// sectors as its writes reach them. So a download resumes only within the boot that started it
// (the bytes the network sends again below the point already written are dropped); after a reboot
// there is no resume, and begin() at a non-zero offset fails, which ends the attempt and clears the
// journal, so the next attempt downloads the image from the start.
import OTA from "ota";
import { otaError } from "../../src/core/errors";
import type { SlotReader } from "../../src/core/ports";
import { openLegacyPartition, type ReadablePartition } from "./partition-legacy";
import { checkBegin, checkWrite, messageOf, SlotSession, type StagedSlot } from "./slot-common";

class OtaSlot extends SlotSession<ReadablePartition> {
  private ota: OTA | undefined;
  /** Bytes the current OTA instance has written, from 0. */
  private written = 0;

  constructor(name: string) {
    super(name, openLegacyPartition("nextota"));
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
    this.startSession(offset, totalSize);
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

  async abort(): Promise<void> {
    this.writing = false;
    this.cancel();
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
      throw this.completeFailure(error);
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

/** The running slot, read-only: the base a delta is applied to. */
export function openRunning(): SlotReader {
  const running = openLegacyPartition("running");
  return {
    name: "running",
    size: running.size,
    read: (offset, length) => Promise.resolve(running.read(offset, length)),
  };
}

export function readRunning(length: number): Uint8Array {
  return openLegacyPartition("running").read(0, length);
}
