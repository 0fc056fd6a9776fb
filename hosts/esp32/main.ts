// The ESP32 application (creation.main in manifest.json): the update slot chosen at build time
// (embedded:update, or the legacy ota module with OTAFLOW_SLOT=ota), ESP-IDF's boot control
// through FFI, and the shared Moddable ports of app.ts.
import config from "mc/config";
import { openRunning, openSlot, readRunning } from "./slot";
import { startApp } from "./app";
import { ffiBootControl, nextSlotName } from "./boot";
import { readSettings } from "./settings";

const slot = openSlot(nextSlotName());
startApp(
  { slot, running: openRunning(), boot: ffiBootControl(slot, readRunning) },
  readSettings(config),
).catch((error: unknown) => trace(`otaflow: cannot start: ${String(error)}\n`));
