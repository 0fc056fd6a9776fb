// Moddable's "time": ticks are the harness's virtual milliseconds.
import { clock } from "../../../../test/xs/runtime";

const Time = {
  get ticks(): number {
    return clock.now();
  },
  delta(start: number, end: number = clock.now()): number {
    return end - start;
  },
};

export default Time;
