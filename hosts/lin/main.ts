// The desktop build (mcconfig -p lin): the same agent and Moddable ports as on the board, with the
// slots and otadata in files under the File module's root, and reboots emulated in-process: the
// running agent stops, the emulated bootloader picks the slot again, and a fresh agent starts.
// The key-value store is a file beside the slots (store-file.ts says why not Preference).
import config from "mc/config";
import { startApp, type App } from "../esp32/app";
import { cryptDigests } from "../esp32/digests";
import { readSettings } from "../esp32/settings";
import { bootloader, fileBootControl, otherSlot, slotPath, type LinFlash } from "./boot-file";
import { simulatedSelfTest, readSelfTestBehaviour } from "./sim-record";
import { FileSlot } from "./slot-file";
import { fileStore } from "./store-file";

const settings = readSettings(config);
const flash: LinFlash = {
  directory: config.file.root + "otaflow/",
  slotSize: typeof config.slotSize === "number" ? config.slotSize : 0x1f0000,
};
const factory = {
  version: String(config.version || "0.0.1"),
  project: String(config.project || "otaflow"),
};

function boot(): void {
  const booted = bootloader(flash, factory);
  if (booted.refused)
    trace(
      `otaflow bootloader: ${booted.refused.slot} is ${booted.refused.state}; booting ${booted.slot}\n`,
    );
  const next = otherSlot(booted.slot);
  const slot = new FileSlot(next, flash.slotSize, slotPath(flash, next));
  let started: Promise<App | undefined> = Promise.resolve(undefined);
  const restart = (reason = "restart") => {
    trace(`otaflow: ${reason}\n`);
    started
      .then(async (app) => {
        if (!app) return;
        await app.agent.stop();
        await app.mqtt.close();
      })
      .then(boot, boot);
  };
  started = startApp(
    {
      slot,
      boot: fileBootControl(flash, booted, () => restart(), cryptDigests),
      store: fileStore(flash.directory + "nvs.json"),
      selfTest: simulatedSelfTest(readSelfTestBehaviour(slotPath(flash, booted.slot)), restart),
    },
    settings,
  ).catch((error: unknown) => {
    trace(`otaflow: cannot start: ${String(error)}\n`);
    return undefined;
  });
}

boot();
