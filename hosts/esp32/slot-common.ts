// What every Moddable slot writer shares: the argument checks ESP-IDF's esp_ota_begin and
// esp_ota_write make, and the step that makes the written slot the next boot.
import { otaError, type OtaError } from "../../src/core/errors";
import type { SlotWriter } from "../../src/core/ports";
import type { ReadablePartition } from "./partition-legacy";

const IMAGE_MAGIC = 0xe9;

/** A slot writer whose image can be made the next boot (esp_ota_end + esp_ota_set_boot_partition). */
export interface StagedSlot extends SlotWriter {
  /** Validates the image in the slot and makes it the next boot; it does not restart. */
  stage(): void;
}

export function checkBegin(slot: SlotWriter, offset: number, totalSize: number): void {
  if (!(totalSize > 0 && totalSize <= slot.size && Math.floor(totalSize) === totalSize))
    throw otaError(
      "offer-too-large",
      `an image of ${totalSize} bytes does not fit ${slot.name} (${slot.size} bytes)`,
    );
  if (
    !(offset >= 0 && offset <= totalSize && Math.floor(offset) === offset) ||
    offset % slot.sectorSize !== 0
  )
    throw otaError(
      "internal",
      `resume offset ${offset} is not a multiple of ${slot.sectorSize} within the ${totalSize}-byte image`,
    );
}

/** The bounds and first-byte checks of esp_ota_write, made before anything reaches the flash. */
export function checkWrite(
  slot: SlotWriter,
  position: number,
  total: number,
  data: Uint8Array,
): void {
  if (position + data.length > total)
    throw otaError(
      "body-long",
      `${position + data.length} bytes written to ${slot.name}, more than the ${total} announced`,
    );
  if (position === 0 && data.length > 0 && data[0] !== IMAGE_MAGIC)
    throw otaError(
      "image-invalid",
      `OTA image has invalid magic byte (expected 0xE9, saw 0x${data[0].toString(16)})`,
    );
}

export function checkRead(slot: SlotWriter, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > slot.size)
    throw otaError(
      "internal",
      `read of ${length} bytes at ${offset} is outside ${slot.name} (${slot.size} bytes)`,
    );
}

/** The message of whatever a native module threw. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * What both slot writers keep alike: the write session (position and announced size), finish()
 * and read-back. Each subclass opens, writes, aborts and stages through its own module.
 */
export abstract class SlotSession<P extends ReadablePartition> implements StagedSlot {
  readonly size: number;
  readonly sectorSize: number;
  protected writing = false;
  protected position = 0;
  protected total = 0;

  constructor(
    readonly name: string,
    protected readonly partition: P,
  ) {
    this.size = partition.size;
    this.sectorSize = partition.blockSize;
  }

  abstract begin(offset: number, totalSize: number): Promise<void>;
  abstract write(data: Uint8Array): Promise<void>;
  abstract abort(): Promise<void>;
  abstract stage(): void;

  protected startSession(offset: number, totalSize: number): void {
    this.position = offset;
    this.total = totalSize;
    this.writing = true;
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

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRead(this, offset, length);
    return this.partition.read(offset, length);
  }

  /** What esp_ota_end + esp_ota_set_boot_partition threw, as the core's failure. */
  protected completeFailure(error: unknown): OtaError {
    const message = messageOf(error);
    return message === "end failed"
      ? otaError("image-invalid", `${this.name}: esp_ota_end refused the image`)
      : otaError("flash", `${this.name}: ${message}`);
  }
}
