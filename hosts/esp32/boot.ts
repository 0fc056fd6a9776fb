// The BootControl port on the board: ESP-IDF's rollback calls through FFI (native/otastate.c and
// the "ffi" section of manifest.json), the running image's version from its app descriptor, and
// the slot writer's stage() for esp_ota_set_boot_partition.
import FFI from "mc/ffi";
import Timer from "timer";
import { otaError } from "../../src/core/errors";
import { IMAGE_PREFIX_SIZE, parseImageHeader } from "../../src/core/image/esp-image";
import type { BootControl, ImageState, RunningImage } from "../../src/core/ports";
import type { StagedSlot } from "./slot-common";

/** esp_ota_img_states_t by value; otaflow_running_state gives -1 for UNDEFINED, -2 for no entry. */
const STATES: ImageState[] = ["new", "pending-verify", "valid", "invalid", "aborted"];

/** Lets the serial console drain before esp_restart. */
const RESTART_DELAY_MS = 100;

function hex(code: number): string {
  return "0x" + (code >>> 0).toString(16);
}

/** Label of esp_ota_get_next_update_partition's slot, e.g. "ota_1". */
export function nextSlotName(): string {
  return new FFI().otaflow_next_label();
}

/**
 * -2, no otadata entry, is an image written over serial (or a factory app): the bootloader boots
 * it and never rolls it back, which is what "valid" means to the agent.
 */
function stateOf(value: number): ImageState {
  if (value === -2) return "valid";
  return STATES[value] || "undefined";
}

export function ffiBootControl(
  slot: StagedSlot,
  readRunning: (length: number) => Uint8Array,
): BootControl {
  const ffi = new FFI();
  const restart = (): Promise<void> =>
    new Promise<void>(() => {
      Timer.set(() => ffi.esp_restart(), RESTART_DELAY_MS);
    });
  return {
    async running(): Promise<RunningImage> {
      const header = parseImageHeader(readRunning(IMAGE_PREFIX_SIZE));
      return {
        slot: ffi.otaflow_running_label(),
        version: header.version,
        project: header.project,
        secureVersion: header.secureVersion,
        state: stateOf(ffi.otaflow_running_state()),
      };
    },
    async setNextBoot(name: string): Promise<void> {
      if (name !== slot.name)
        throw otaError("flash", `"${name}" is not the update slot (${slot.name})`);
      slot.stage();
    },
    async markValid(): Promise<void> {
      const error = ffi.esp_ota_mark_app_valid_cancel_rollback();
      if (error !== 0)
        throw otaError("flash", `esp_ota_mark_app_valid_cancel_rollback failed: ${hex(error)}`);
    },
    async markInvalidAndReboot(): Promise<void> {
      // Returns only when there is nothing to roll back to (ESP_ERR_OTA_ROLLBACK_FAILED).
      const error = ffi.esp_ota_mark_app_invalid_rollback_and_reboot();
      throw otaError(
        "flash",
        `esp_ota_mark_app_invalid_rollback_and_reboot refused (${hex(error)}): no other valid image`,
      );
    },
    reboot: restart,
  };
}
