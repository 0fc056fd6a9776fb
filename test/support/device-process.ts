// The simulated device as a separate process (`otaflow device --json`), as a person runs it: its
// events as they come, stopped with SIGTERM once `stopWhen` says so (or after a minute); a power cut
// set through the environment kills it with SIGKILL.
import { spawn } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";
import type { DeviceEvent } from "../../hosts/node/device";

const CLI = path.join(import.meta.dirname, "..", "..", "tools", "otaflow.mjs");

export interface DeviceRun {
  events: DeviceEvent[];
  signal: NodeJS.Signals | null;
}

export function runDeviceProcess(
  args: string[],
  env: Record<string, string>,
  stopWhen: (e: DeviceEvent) => boolean,
): Promise<DeviceRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, "device", ...args, "--json"], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const events: DeviceEvent[] = [];
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const event = JSON.parse(line) as DeviceEvent;
      events.push(event);
      if (stopWhen(event)) child.kill("SIGTERM");
    });
    const timer = setTimeout(() => child.kill("SIGTERM"), 60_000);
    child.once("exit", (_code, signal) => {
      clearTimeout(timer);
      resolve({ events, signal });
    });
  });
}
