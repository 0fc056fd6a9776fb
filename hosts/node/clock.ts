import type { Clock } from "../../src/core/ports";

export const nodeClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  random: Math.random,
};

/**
 * The clock of one boot: a reset ends every timer the firmware had armed, as on a board, so that
 * nothing of a hung image (a self-test deadline, a retry) runs on after its boot has ended.
 */
export function bootClock(): Clock & { reset(): void } {
  const timers = new Set<ReturnType<typeof setTimeout>>();
  return {
    now: nodeClock.now,
    random: nodeClock.random,
    setTimeout(callback, ms) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        callback();
      }, ms);
      timers.add(timer);
      return timer;
    },
    clearTimeout(handle) {
      timers.delete(handle as ReturnType<typeof setTimeout>);
      clearTimeout(handle as ReturnType<typeof setTimeout>);
    },
    reset() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
