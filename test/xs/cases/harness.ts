// Checks of the harness itself: the engine really has its intrinsics frozen, virtual timers fire
// in order, and the host can be called.

import { toHex } from "../../../src/core/util/bytes";
import { check, checkEqual, clock, host, type Cases } from "../runtime";

function throwsTypeError(action: () => void): boolean {
  try {
    action();
    return false;
  } catch (error) {
    return error instanceof TypeError;
  }
}

export default {
  "intrinsics are frozen as in a Moddable app"() {
    const frozen = {
      "Object.prototype": Object.isFrozen(Object.prototype),
      "Array.prototype": Object.isFrozen(Array.prototype),
      "Error.prototype": Object.isFrozen(Error.prototype),
      "Promise.prototype": Object.isFrozen(Promise.prototype),
      "%TypedArray%.prototype": Object.isFrozen(Object.getPrototypeOf(Uint8Array.prototype)),
      Math: Object.isFrozen(Math),
      JSON: Object.isFrozen(JSON),
    };
    for (const [name, isFrozen] of Object.entries(frozen)) check(isFrozen, `${name} is not frozen`);
    // The override mistake: an own property shadowing a frozen inherited one cannot be assigned.
    const shadowing = throwsTypeError(() => {
      const error = new Error("x");
      (error as { name: string }).name = "OtaError";
    });
    check(shadowing, "assigning name on an Error did not throw");
    return { frozen, shadowing };
  },

  async "virtual timers fire in order of due time"() {
    const fired: string[] = [];
    const sleep = (ms: number, label: string) =>
      new Promise<void>((resolve) =>
        clock.setTimeout(() => {
          fired.push(`${label}@${clock.now()}`);
          resolve();
        }, ms),
      );
    const cancelled = clock.setTimeout(() => fired.push("cancelled"), 5);
    clock.clearTimeout(cancelled);
    await Promise.all([sleep(30, "c"), sleep(10, "a"), sleep(20, "b")]);
    await sleep(60_000, "d");
    checkEqual(fired.join(" "), "a@10 b@20 c@30 d@60030", "timer order");
    return fired;
  },

  "host calls reach Node"() {
    const empty = host<string>("digest", { algorithm: "md5", hex: toHex(new Uint8Array(0)) });
    checkEqual(empty, "d41d8cd98f00b204e9800998ecf8427e", "MD5 of nothing from the host");
    return empty;
  },
} satisfies Cases;
