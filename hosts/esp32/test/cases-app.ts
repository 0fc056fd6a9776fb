// The esp32 application in XS, composed as main.ts composes it (settings from the board's config,
// the embedded:update slot, FFI boot control, every Moddable port) with the self-test the running
// image's simulator record asks for. One case run is one boot: it ends when the board restarts,
// loses power, or the test has seen what it waited for.
import FFI from "mc/ffi";
import { otaError } from "../../../src/core/errors";
import type { SelfTest } from "../../../src/core/agent/agent";
import type { Cases } from "../../../test/xs/runtime";
import { startApp } from "../app";
import { ffiBootControl, nextSlotName } from "../boot";
import { readSettings } from "../settings";
import { openSlot, readRunning } from "../slot";
import { call, every, halt, installTrace, whenHalted } from "./fakes/board";

/** The simulated firmware's own checks (tools/image): "pass" keeps the agent's default. */
function selfTestOf(behaviour: string): SelfTest | undefined {
  switch (behaviour) {
    case "fail":
      return async (context) => {
        await context.cloudReachable;
        throw otaError("self-test-failed", "the image's own checks failed (simulated)");
      };
    case "crash":
      return () => {
        new FFI().esp_restart();
        return new Promise<void>(() => {});
      };
  }
  return undefined;
}

export default {
  async app() {
    installTrace();
    const slot = openSlot(nextSlotName());
    const platform = {
      slot,
      boot: ffiBootControl(slot, readRunning),
      selfTest: selfTestOf(call<string>("esp32.selfTest")),
    };
    startApp(platform, readSettings(call<Record<string, unknown>>("esp32.config"))).catch(
      (error: unknown) => halt(`the app did not start: ${String(error)}`),
    );
    every(20, () => {
      if (!call<boolean>("esp32.stopRequested")) return true;
      halt("stopped");
      return false;
    });
    return whenHalted();
  },
} satisfies Cases;
