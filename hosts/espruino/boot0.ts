// The boot file, stored as ".boot0" (Espruino runs it at every start). The same model as
// ESP-IDF's rollback: a pending slot runs once in test mode ("pending-verify"); if it is still
// pending at the next start, it never confirmed itself and the confirmed slot runs again.
import { BOOT_FILE, SLOTS, globals, scriptOf, type BootState } from "./layout";
import { storageModule } from "./modules";

const storage = storageModule();
const state = (storage.readJSON(BOOT_FILE, true) as BootState | undefined) || {
  confirmed: SLOTS[0],
};
let slot = state.confirmed;
let mode: "valid" | "pending-verify" = "valid";
if (state.pending !== undefined) {
  if (!state.tried) {
    slot = state.pending;
    mode = "pending-verify";
    storage.writeJSON(BOOT_FILE, {
      confirmed: state.confirmed,
      pending: state.pending,
      tried: true,
    });
  } else {
    storage.writeJSON(BOOT_FILE, { confirmed: state.confirmed });
  }
}
globals().OTAFLOW_BOOT = { slot, state: mode };
const script = scriptOf(storage, slot);
// Storage.read gives a memory-mapped string: the application runs from flash without a copy.
eval(storage.read(slot, script.at, script.length) || "");
