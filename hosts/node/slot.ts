// The inactive OTA slot, written as esp_ota_begin(OTA_WITH_SEQUENTIAL_WRITES) / esp_ota_write /
// esp_ota_end do it: sectors are erased just ahead of the bytes, never behind the start offset.
// On a resume the first sector to erase is the one at the durable offset: the journal's offset is
// sector-aligned and what lies after it in the flash is unknown (a torn write, or nothing).
import { otaError } from "../../src/core/errors";
import type { SlotWriter } from "../../src/core/ports";
import { ESP32, verifyAppImage, type BootResult, type Chip } from "./bootloader";
import { SECTOR_SIZE, type FlashFile } from "./flash";
import { invalidateInactiveOtadata, OtaState, readOtadata, stateOfSlot } from "./otadata";
import { otadataPartition, otaSlots, readPartitionTable, type PartitionEntry } from "./partitions";

const IMAGE_MAGIC = 0xe9;
/** Bytes written between two flushes to the disk started in the background. */
const FLUSH_EVERY = 1024 * 1024;

export class FlashSlotWriter implements SlotWriter {
  readonly name: string;
  readonly size: number;
  readonly sectorSize = SECTOR_SIZE;
  /** finish() reads the image back and verifies it, as esp_ota_end does. */
  readonly verifiesImage = true;
  private readonly partition: PartitionEntry;
  private readonly otadata: PartitionEntry;
  private readonly appCount: number;
  private readonly chip: Chip;
  private writing = false;
  private position = 0;
  private total = 0;
  /** Slot offset up to which this write session has erased. */
  private erasedTo = 0;
  /** Slot offset up to which the last flush started in the background reaches. */
  private flushedTo = 0;
  /** The last flush started in the background; it never rejects. */
  private flushing: Promise<void> | undefined;
  /** True from the start of a background flush to its success (a failed one stays). */
  private flushBusy = false;
  private flushFailure: unknown;

  /** The slot esp_ota_get_next_update_partition gives: the OTA slot after the running one. */
  constructor(
    private readonly flash: FlashFile,
    private readonly booted: BootResult,
    options: { chip?: Chip } = {},
  ) {
    const table = readPartitionTable(flash);
    const slots = otaSlots(table);
    this.appCount = slots.length;
    this.partition = slots[(booted.slotIndex + 1) % slots.length];
    if (!this.partition || this.partition.offset === booted.offset)
      throw otaError("flash", "the partition table has no OTA slot besides the running one");
    this.otadata = otadataPartition(table);
    this.name = this.partition.label;
    this.size = this.partition.size;
    this.chip = options.chip ?? ESP32;
  }

  async begin(offset: number, totalSize: number): Promise<void> {
    if (!Number.isInteger(totalSize) || totalSize <= 0 || totalSize > this.size)
      throw otaError(
        "offer-too-large",
        `an image of ${totalSize} bytes does not fit ${this.name} (${this.size} bytes)`,
      );
    if (!Number.isInteger(offset) || offset < 0 || offset % SECTOR_SIZE !== 0 || offset > totalSize)
      throw otaError(
        "internal",
        `resume offset ${offset} is not a multiple of ${SECTOR_SIZE} within the ${totalSize}-byte image`,
      );
    // esp_ota_begin refuses while the running app is still on trial (ESP_ERR_OTA_ROLLBACK_INVALID_STATE).
    const two = readOtadata(this.flash, this.otadata);
    if (stateOfSlot(two, this.booted.slotIndex, this.appCount) === OtaState.PENDING_VERIFY)
      throw otaError(
        "flash",
        "Running app has not confirmed state (ESP_OTA_IMG_PENDING_VERIFY): mark it valid before an update",
      );
    invalidateInactiveOtadata(this.flash, this.otadata, this.appCount, this.booted.slotIndex);
    this.writing = true;
    this.position = offset;
    this.erasedTo = offset;
    this.flushedTo = offset;
    this.total = totalSize;
  }

  async write(data: Uint8Array): Promise<void> {
    if (!this.writing) throw otaError("internal", `${this.name}: write() without begin()`);
    if (data.length === 0) return;
    if (this.position + data.length > this.total)
      throw otaError(
        "body-long",
        `${this.position + data.length} bytes written to ${this.name}, more than the ${this.total} announced`,
      );
    if (this.position === 0 && data[0] !== IMAGE_MAGIC)
      throw otaError(
        "image-invalid",
        `OTA image has invalid magic byte (expected 0xE9, saw 0x${data[0].toString(16).padStart(2, "0")})`,
      );
    const end = this.position + data.length;
    const eraseTo = Math.ceil(end / SECTOR_SIZE) * SECTOR_SIZE;
    if (eraseTo > this.erasedTo) {
      this.flash.erase(this.partition.offset + this.erasedTo, eraseTo - this.erasedTo);
      this.erasedTo = eraseTo;
    }
    this.flash.write(this.partition.offset + this.position, data);
    this.position = end;
    // The disk takes the bytes while more arrive, so that finish() has little left to flush.
    if (!this.flushBusy && end - this.flushedTo >= FLUSH_EVERY) {
      this.flushedTo = end;
      this.flushBusy = true;
      this.flushing = this.flash.sync().then(
        () => void (this.flushBusy = false),
        (error: unknown) => void (this.flushFailure = error),
      );
    }
  }

  /** esp_ota_end: the image must be complete and pass the bootloader's checks. */
  async finish(): Promise<void> {
    if (!this.writing) throw otaError("internal", `${this.name}: finish() without begin()`);
    this.writing = false;
    if (this.position !== this.total)
      throw otaError(
        "body-short",
        `${this.name} holds ${this.position} of the ${this.total} bytes announced`,
      );
    // The flush to the disk runs while the image is read back and checked; both end here.
    const flushed = this.flash.sync();
    let checked;
    try {
      checked = verifyAppImage(this.flash, this.partition, this.chip);
    } finally {
      await flushed;
      await this.flushing;
    }
    if (this.flushFailure !== undefined) throw this.flushFailure;
    if (!checked.ok) throw otaError("image-invalid", `${this.name}: ${checked.reason}`);
    // esp_ota_end reads the partition whatever was written; an image that ends in bytes left
    // from an earlier write is not the one downloaded.
    if (checked.image.length > this.total)
      throw otaError(
        "image-invalid",
        `${this.name}: the image is ${checked.image.length} bytes long, only ${this.total} were written`,
      );
  }

  async abort(): Promise<void> {
    this.writing = false;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size)
      throw otaError(
        "internal",
        `read of ${length} bytes at ${offset} is outside ${this.name} (${this.size} bytes)`,
      );
    return this.flash.read(this.partition.offset + offset, length);
  }
}
