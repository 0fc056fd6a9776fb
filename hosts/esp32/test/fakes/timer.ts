// Moddable's "timer" over the harness's virtual clock.
import { clock } from "../../../../test/xs/runtime";

interface Handle {
  id: unknown;
}

function arm(handle: Handle, callback: (timer: Handle) => void, ms: number, repeat: number) {
  handle.id = clock.setTimeout(() => {
    if (repeat > 0) arm(handle, callback, repeat, repeat);
    else handle.id = undefined;
    callback(handle);
  }, ms);
}

const Timer = {
  set(callback: (timer: Handle) => void, ms = 0, repeat = 0): Handle {
    const handle: Handle = { id: undefined };
    arm(handle, callback, ms, repeat);
    return handle;
  },
  repeat(callback: (timer: Handle) => void, ms: number): Handle {
    return Timer.set(callback, ms, ms);
  },
  // A one-shot timer that fired, undefined and null are ignored, as Moddable's Timer.clear does.
  clear(handle: Handle | undefined | null): void {
    if (!handle || handle.id === undefined) return;
    clock.clearTimeout(handle.id);
    handle.id = undefined;
  },
};

export default Timer;
