// The running slot, read-only (esp_partition_read on esp_ota_get_running_partition): the base a
// delta is applied to.
import { otaError } from "../../src/core/errors";
import type { SlotReader } from "../../src/core/ports";
import type { BootResult } from "./bootloader";
import type { FlashFile } from "./flash";

export function runningSlotReader(flash: FlashFile, booted: BootResult): SlotReader {
  return {
    name: booted.slot,
    size: booted.size,
    read: async (offset, length) => {
      if (offset < 0 || length < 0 || offset + length > booted.size)
        throw otaError("flash", `read of ${length} bytes at ${offset} is outside ${booted.slot}`);
      return flash.read(booted.offset + offset, length);
    },
  };
}
