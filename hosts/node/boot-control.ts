// Boot control over the flash: what esp_ota_ops.c does to otadata for the running app. Every call
// reads otadata afresh, as ESP-IDF does, so the state seen is the one in the flash.
import { otaError } from "../../src/core/errors";
import type { BootControl, RunningImage } from "../../src/core/ports";
import { appDescription, ESP32, verifyAppImage, type BootResult, type Chip } from "./bootloader";
import type { SimEfuses } from "./efuse";
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
import {
  factoryPartition,
  otadataPartition,
  otaSlots,
  readPartitionTable,
  type PartitionEntry,
} from "./partitions";

export interface FlashBootControlOptions {
  /** The reboot the device loop performs (in-process on the simulator). */
  reboot: () => void | Promise<void>;
  chip?: Chip;
  /** The chip's eFuses: given, the app is built with CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK. */
  efuse?: SimEfuses;
}

export class FlashBootControl implements BootControl {
  private readonly otadata: PartitionEntry;
  private readonly slots: PartitionEntry[];
  private readonly factory: PartitionEntry | undefined;
  private readonly chip: Chip;
  private readonly efuse: SimEfuses | undefined;

  constructor(
    private readonly flash: FlashFile,
    private readonly booted: BootResult,
    private readonly options: FlashBootControlOptions,
  ) {
    const table = readPartitionTable(flash);
    this.otadata = otadataPartition(table);
    this.slots = otaSlots(table);
    this.factory = factoryPartition(table);
    this.chip = options.chip ?? ESP32;
    this.efuse = options.efuse;
  }

  /** esp_efuse_read_secure_version; undefined without anti-rollback. */
  async efuseSecureVersion(): Promise<number | undefined> {
    return this.efuse?.readSecureVersion();
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
    // esp_ota_get_partition_description fails without the descriptor's magic.
    if (this.efuse && !checked.image.descriptor)
      throw otaError(
        "image-invalid",
        `${slot}: the image has no app descriptor (ESP_ERR_NOT_FOUND)`,
      );
    if (this.efuse && !this.efuse.checkSecureVersion(checked.image.secureVersion)) {
      // ESP_ERR_OTA_SMALL_SEC_VER: ESP-IDF erases the partition before it refuses.
      const part = this.slots[index];
      this.flash.erase(part.offset, part.size);
      throw otaError(
        "image-mismatch",
        `image secure_version ${checked.image.secureVersion} is below the eFuse's ${this.efuse.readSecureVersion()} (anti-rollback): ${slot} erased (ESP_ERR_OTA_SMALL_SEC_VER)`,
      );
    }
    setBootSlot(this.flash, this.otadata, index, this.slots.length);
  }

  /** esp_ota_mark_app_valid_cancel_rollback. */
  async markValid(): Promise<void> {
    const wrote = markActive(this.flash, this.otadata, true, this.slots.length);
    // esp_ota_set_anti_rollback: the running app's secure_version goes into the eFuse.
    const desc = appDescription(this.flash, this.booted);
    if (wrote && this.efuse && desc) this.efuse.updateSecureVersion(desc.secureVersion);
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
   * esp_ota_check_rollback_is_possible: the otadata entry that is not the active one must be
   * valid and its slot hold a valid image (whose secure_version the eFuse allows); without
   * anti-rollback, a valid factory app also counts when that entry is not valid.
   */
  private rollbackPossible(): boolean {
    if (this.slots.length === 0) return false;
    const two = readOtadata(this.flash, this.otadata);
    const valid: [boolean, boolean] = [entryValid(two[0]), entryValid(two[1])];
    const active = selectOtadata(two, valid, true);
    if (active === -1) return false;
    const last = active === 0 ? 1 : 0;
    if (!this.efuse && !valid[last] && this.factory)
      if (verifyAppImage(this.flash, this.factory, this.chip).ok) return true;
    if (!valid[last]) return false;
    const part = this.slots[slotOfSeq(two[last].seq, this.slots.length)];
    if (part === undefined || !verifyAppImage(this.flash, part, this.chip).ok) return false;
    const desc = this.efuse && appDescription(this.flash, part);
    return !this.efuse || (desc !== undefined && this.efuse.checkSecureVersion(desc.secureVersion));
  }
}
