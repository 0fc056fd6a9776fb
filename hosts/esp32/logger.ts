// The Logger port over trace(): one line per entry on the serial console (or xsbug), fields as JSON.
import type { LogLevel, Logger } from "../../src/core/ports";

export function traceLogger(minimum: LogLevel = "info"): Logger {
  const order: LogLevel[] = ["debug", "info", "warn", "error"];
  const floor = order.indexOf(minimum);
  return {
    log(level, message, fields) {
      if (order.indexOf(level) < floor) return;
      let line = "otaflow " + level + ": " + message;
      if (fields) line += " " + JSON.stringify(fields);
      trace(line + "\n");
    },
  };
}
