// What each OTA slot of the flash holds, for the operator's view: its otadata state and the
// version of the image in it (when the bootloader's checks pass). Read-only, from the flash file.
import type { Chip } from "./bootloader";
import { verifyAppImage } from "./image-format";
import type { FlashFile } from "./flash";
import { readOtadata, stateName, stateOfSlot } from "./otadata";
import { otadataPartition, otaSlots, readPartitionTable } from "./partitions";

export interface SlotState {
  /** Partition label: "ota_0", "ota_1". */
  slot: string;
  /** esp_ota_get_state_partition in the ports' words ("undefined" when otadata names it not). */
  state: string;
  /** The image's version, or undefined when the slot holds no image that verifies. */
  version?: string;
  running: boolean;
}

export function slotStates(flash: FlashFile, chip: Chip, runningSlot: string): SlotState[] {
  const table = readPartitionTable(flash);
  const slots = otaSlots(table);
  const two = readOtadata(flash, otadataPartition(table));
  const states: SlotState[] = [];
  slots.forEach((part, index) => {
    const verdict = verifyAppImage(flash, part, chip);
    states.push({
      slot: part.label,
      state: stateName(stateOfSlot(two, index, slots.length)),
      version: verdict.ok ? verdict.image.version : undefined,
      running: part.label === runningSlot,
    });
  });
  return states;
}
