// How the device's events reach a person: one JSON object per line with --json, otherwise readable
// lines with a UTC timestamp and, on a terminal, a progress bar.
import type { DeviceEvent } from "../../hosts/node/device";
import { stamp } from "./stamp";

export function jsonRenderer(
  write: (line: string) => void = (l) => process.stdout.write(l),
  device?: string,
) {
  const tag = device === undefined ? {} : { device };
  return (event: DeviceEvent) =>
    write(JSON.stringify({ time: new Date().toISOString(), ...tag, ...event }) + "\n");
}

const BAR = 30;

export function humanRenderer(options: { tty: boolean; prefix?: string; verbose?: boolean }) {
  const out = process.stdout;
  const prefix = options.prefix ?? "";
  let barShown = false;
  let quarter = -1;
  const line = (text: string) => {
    if (barShown) out.write("\n");
    barShown = false;
    out.write(`${stamp()} ${prefix}${text}\n`);
  };
  return (event: DeviceEvent) => {
    switch (event.event) {
      case "boot":
        for (const l of event.bootloader) if (options.verbose) line(`  bootloader: ${l}`);
        line(
          `boot: ${event.project} ${event.version} from ${event.slot} (${event.state}), self-test "${event.selfTest}"`,
        );
        break;
      case "reboot":
        line(`reboot: ${event.reason}`);
        break;
      case "connected":
        line(`connected to ${event.broker}`);
        break;
      case "disconnected":
        if (options.verbose) line(`disconnected: ${event.reason}`);
        break;
      case "slots":
        if (options.verbose)
          line(
            `slots: ${event.slots.map((s) => `${s.slot} ${s.state} ${s.version ?? "-"}`).join(", ")}`,
          );
        break;
      case "state":
        line(`agent: ${event.from} -> ${event.to} (${event.cause})`);
        break;
      case "offer":
        line(`offer: ${event.id}, version ${event.version}, ${event.size} bytes`);
        break;
      case "resume":
        line(`resume: ${event.id} from byte ${event.offset} of ${event.size}`);
        break;
      case "delta":
        line(
          event.used
            ? `delta: ${event.id} applied as a patch to the running image`
            : `delta: ${event.id} takes the full image (${event.reason})`,
        );
        break;
      case "progress": {
        if (!options.tty) {
          // Without a terminal, a line at each quarter is enough.
          const q = Math.floor(event.percent / 25);
          if (q !== quarter)
            line(`download: ${event.percent}% (${event.bytes}/${event.total} bytes)`);
          quarter = q;
          break;
        }
        const filled = Math.round((event.percent / 100) * BAR);
        out.write(
          `\r${stamp()} ${prefix}download [${"#".repeat(filled)}${".".repeat(BAR - filled)}] ${event.percent}%`,
        );
        barShown = true;
        break;
      }
      case "report": {
        const failure = event.failure ? ` (${event.failure.code}: ${event.failure.message})` : "";
        const delivery = event.delivered ? "" : ` -- not delivered: ${event.error}`;
        line(`report: ${event.status}${failure}${delivery}`);
        break;
      }
      case "confirm":
        line(`confirmed: ${event.version} in ${event.slot} is marked valid`);
        break;
      case "rollback":
        line(`rollback: ${event.version}: ${event.reason}`);
        break;
      case "error":
        line(`error: ${event.code}: ${event.message}`);
        break;
      case "log":
        if (options.verbose || event.level === "warn" || event.level === "error") {
          line(`${event.level}: ${event.message}`);
        }
        break;
    }
  };
}
