// The Clock port over Moddable's timer and time modules. Time.ticks counts milliseconds since boot.
// Timer.clear ignores a one-shot timer that already fired, as clearTimeout must.
import Time from "time";
import Timer from "timer";
import type { Clock, TimerHandle } from "../../src/core/ports";

export const clock: Clock = {
  now: () => Time.ticks,
  setTimeout: (callback: () => void, ms: number): TimerHandle => Timer.set(() => callback(), ms),
  clearTimeout: (handle: TimerHandle) => Timer.clear(handle as Timer),
  random: () => Math.random(),
};
