// The SlotWriter and BootControl ports over Storage: the inactive application slot is written as
// the bytes arrive, and the boot state file says what the boot file (boot0.ts) runs next.
import { otaError } from "../../src/core/errors";
import { IMAGE_PREFIX_SIZE, parseImageHeader } from "../../src/core/image/esp-image";
import type { BootControl, RunningImage, SlotReader, SlotWriter } from "../../src/core/ports";
import { binaryOf, bytesOf } from "./binary";
import { BOOT_FILE, SLOTS, globals, type BootState } from "./layout";

/** Storage's flash page on ESP32 boards: resume offsets are aligned down to it. */
const SECTOR = 4096;

/**
 * Storage writes into an existing file only where the bytes are still erased (0xFF). After a power
 * cut the bytes past the journal's offset may be written already: equal bytes are skipped.
 */
export function storageSlot(storage: EspruinoStorage, name: string, size: number): SlotWriter {
  let position = 0;
  let total = 0;
  const fail = (what: string) => otaError("flash", `${name}: ${what}`);
  return {
    name,
    size,
    sectorSize: SECTOR,
    begin(offset, totalSize) {
      total = totalSize;
      position = offset;
      if (offset === 0) storage.erase(name);
      else {
        const existing = storage.read(name);
        if (existing === undefined || existing.length !== totalSize)
          return Promise.reject(fail(`cannot resume at ${offset}: no file of ${totalSize} bytes`));
      }
      return Promise.resolve();
    },
    write(data) {
      if (position + data.length > total)
        return Promise.reject(fail(`write past the announced ${total} bytes`));
      let ok = true;
      if (position === 0) ok = storage.write(name, binaryOf(data), 0, total);
      else {
        const existing = storage.read(name, position, data.length) || "";
        let same = 0;
        while (same < data.length && existing.charCodeAt(same) === data[same]) same++;
        if (same < data.length)
          ok = storage.write(name, binaryOf(data.subarray(same)), position + same);
      }
      if (!ok) return Promise.reject(fail(`Storage refused a write at ${position}`));
      position += data.length;
      return Promise.resolve();
    },
    finish() {
      if (position !== total)
        return Promise.reject(fail(`finished at ${position} of ${total} bytes`));
      return Promise.resolve();
    },
    abort() {
      return Promise.resolve();
    },
    read(offset, length) {
      const text = storage.read(name, offset, length);
      if (text === undefined || text.length !== length)
        return Promise.reject(fail(`cannot read ${length} bytes at ${offset}`));
      return Promise.resolve(bytesOf(text));
    },
  };
}

/** The running slot's Storage file, read-only: the base a delta is applied to. */
export function storageReader(storage: EspruinoStorage, name: string): SlotReader {
  const file = storage.read(name);
  return {
    name,
    size: file === undefined ? 0 : file.length,
    read(offset, length) {
      const text = storage.read(name, offset, length);
      if (text === undefined || text.length !== length)
        return Promise.reject(
          otaError("flash", `${name}: cannot read ${length} bytes at ${offset}`),
        );
      return Promise.resolve(bytesOf(text));
    },
  };
}

function readState(storage: EspruinoStorage): BootState {
  return (storage.readJSON(BOOT_FILE, true) as BootState | undefined) || { confirmed: SLOTS[0] };
}

/** The slot the boot file ran, and the one an update goes to. */
export function slotsOf(): { running: string; inactive: string } {
  const boot = globals().OTAFLOW_BOOT;
  const running = boot ? boot.slot : SLOTS[0];
  return { running, inactive: running === SLOTS[0] ? SLOTS[1] : SLOTS[0] };
}

export function storageBootControl(storage: EspruinoStorage, reboot: () => void): BootControl {
  const running = slotsOf().running;
  const booted = globals().OTAFLOW_BOOT;
  const write = (state: BootState) => {
    if (!storage.writeJSON(BOOT_FILE, state))
      throw otaError("flash", `Storage refused to write ${BOOT_FILE}`);
  };
  return {
    running() {
      const header = parseImageHeader(bytesOf(storage.read(running, 0, IMAGE_PREFIX_SIZE) || ""));
      const image: RunningImage = {
        slot: running,
        version: header.version,
        project: header.project,
        secureVersion: header.secureVersion,
        state: booted ? booted.state : "valid",
      };
      return Promise.resolve(image);
    },
    setNextBoot(slot) {
      write({ confirmed: readState(storage).confirmed, pending: slot, tried: false });
      return Promise.resolve();
    },
    markValid() {
      write({ confirmed: running });
      if (booted) booted.state = "valid";
      return Promise.resolve();
    },
    markInvalidAndReboot() {
      write({ confirmed: readState(storage).confirmed });
      reboot();
      return new Promise<void>(() => {});
    },
    reboot() {
      reboot();
      return new Promise<void>(() => {});
    },
  };
}
