// The Linux target's application (hosts/lin/main.ts, imported as mcconfig would run it) in XS:
// slots and otadata in files, reboots emulated in-process. One case run is one start of the
// process; it ends on a power cut or when the test has seen what it waited for.
import type { Cases } from "../../../test/xs/runtime";
import { call, every, halt, installTrace, whenHalted } from "./fakes/board";

export default {
  async lin() {
    installTrace();
    every(20, () => {
      if (!call<boolean>("esp32.stopRequested")) return true;
      halt("stopped");
      return false;
    });
    await import("../../lin/main");
    return whenHalted();
  },
} satisfies Cases;
