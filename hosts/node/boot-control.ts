// Boot control over the flash: what esp_ota_ops.c does to otadata for the running app. Every call
// reads otadata afresh, as ESP-IDF does, so the state seen is the one in the flash.
import { otaError } from "../../src/core/errors";
import type { BootControl, RunningImage } from "../../src/core/ports";
import { ESP32, verifyAppImage, type BootResult, type Chip } from "./bootloader";
import type { FlashFile } from "./flash";
import {
  entryValid,
  markActive,
  readOtadata,
  selectOtadata,
  setBootSlot,
  slotOfSeq,
  stateName,
  stateOfSlot,
} from "./otadata";
import { otadataPartition, otaSlots, readPartitionTable, type PartitionEntry } from "./partitions";

export interface FlashBootControlOptions {
  /** The reboot the device loop performs (in-process on the simulator). */
  reboot: () => void | Promise<void>;
  chip?: Chip;
}

export class FlashBootControl implements BootControl {
  private readonly otadata: PartitionEntry;
  private readonly slots: PartitionEntry[];
  private readonly chip: Chip;

  constructor(
    private readonly flash: FlashFile,
    private readonly booted: BootResult,
    private readonly options: FlashBootControlOptions,
  ) {
    const table = readPartitionTable(flash);
    this.otadata = otadataPartition(table);
    this.slots = otaSlots(table);
    this.chip = options.chip ?? ESP32;
  }

  async running(): Promise<RunningImage> {
    const state = stateOfSlot(
      readOtadata(this.flash, this.otadata),
      this.booted.slotIndex,
      this.slots.length,
    );
    return {
      slot: this.booted.slot,
      version: this.booted.image.version,
      project: this.booted.image.project,
      secureVersion: this.booted.image.secureVersion,
      state: stateName(state),
    };
  }

  /** esp_ota_set_boot_partition: validates the image, then writes otadata (state NEW). */
  async setNextBoot(slot: string): Promise<void> {
    const index = this.slots.findIndex((p) => p?.label === slot);
    if (index < 0) throw otaError("flash", `"${slot}" is not an OTA app partition`);
    const checked = verifyAppImage(this.flash, this.slots[index], this.chip);
    if (!checked.ok)
      throw otaError("image-invalid", `${slot} does not hold a valid image: ${checked.reason}`);
    setBootSlot(this.flash, this.otadata, index, this.slots.length);
  }

  /** esp_ota_mark_app_valid_cancel_rollback. */
  async markValid(): Promise<void> {
    markActive(this.flash, this.otadata, true, this.slots.length);
  }

  /** esp_ota_mark_app_invalid_rollback_and_reboot: refused when there is nothing to roll back to. */
  async markInvalidAndReboot(): Promise<void> {
    if (!this.rollbackPossible())
      throw otaError(
        "flash",
        "Rollback is not possible, do not have any suitable apps in slots (ESP_ERR_OTA_ROLLBACK_FAILED)",
      );
    markActive(this.flash, this.otadata, false, this.slots.length);
    await this.reboot();
  }

  async reboot(): Promise<void> {
    await this.options.reboot();
  }

  /**
   * esp_ota_check_rollback_is_possible without a factory app or anti-rollback: the otadata entry
   * that is not the active one must be valid and its slot must hold a valid image.
   */
  private rollbackPossible(): boolean {
    const two = readOtadata(this.flash, this.otadata);
    const valid: [boolean, boolean] = [entryValid(two[0]), entryValid(two[1])];
    const active = selectOtadata(two, valid, true);
    if (active === -1) return false;
    const last = active === 0 ? 1 : 0;
    if (!valid[last]) return false;
    const part = this.slots[slotOfSeq(two[last].seq, this.slots.length)];
    return part !== undefined && verifyAppImage(this.flash, part, this.chip).ok;
  }
}
