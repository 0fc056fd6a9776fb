// The agent's clocks: a deadline on a promise, and which progress steps become notices and cloud
// reports.
import { otaError } from "../errors";
import type { HostPorts } from "../ports";
import type { AgentConfig } from "./config";

/** Rejects with a timeout if `promise` has not settled within `ms`. */
export function deadline<T>(
  promise: Promise<T>,
  clock: HostPorts["clock"],
  ms: number,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(
      () => reject(otaError("timeout", `no verdict within ${ms} ms`)),
      ms,
    );
    promise.then(
      (value) => (clock.clearTimeout(timer), resolve(value)),
      (error) => (clock.clearTimeout(timer), reject(error)),
    );
  });
}

/** Decides which progress steps become notices (every percent) and cloud reports (rate-limited). */
export function progressThrottle(start: number, config: AgentConfig) {
  let lastPercent = -1;
  let reportedPercent = 0;
  let reportedAt = start;
  return (now: number, bytes: number, total: number) => {
    const percent = Math.floor((bytes * 100) / total);
    const notice = percent !== lastPercent;
    lastPercent = percent;
    const report =
      percent < 100 &&
      percent - reportedPercent >= config.progressStepPercent &&
      now - reportedAt >= config.progressIntervalMs;
    if (report) {
      reportedPercent = percent;
      reportedAt = now;
    }
    return { notice, report, percent };
  };
}
