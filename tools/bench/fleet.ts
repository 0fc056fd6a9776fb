// How many simulated devices this machine updates at once through mosquitto, all succeeding, and
// the memory each adds (fleet-workload.ts, a fresh Node process per count).

import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { LoadFigure } from "../campaign/load";
import { COUNTS, IMAGE_SIZE } from "./fleet-workload";
import { figure, inFreshNode } from "./section";

const here = path.dirname(fileURLToPath(import.meta.url));
const workload = path.join(here, "fleet-workload.ts");
const GOAL = 1000;

export const title = "Fleet scale on one machine (simulated devices through mosquitto)";

export async function run(): Promise<string> {
  const rows: string[] = [];
  let most = 0;
  for (const devices of COUNTS) {
    const load = os.loadavg()[0];
    let figureOf: LoadFigure | undefined;
    let failure = "";
    try {
      figureOf = inFreshNode(workload, [`${devices} devices`])[`${devices} devices`] as LoadFigure;
    } catch (error) {
      failure = String(error).split("\n")[0];
    }
    if (!figureOf) {
      rows.push(
        `| ${devices} | – | – | – | – | – | ${figure(load, 2)} | the run failed: ${failure} |`,
      );
      continue;
    }
    const f = figureOf;
    if (f.succeeded === devices) most = Math.max(most, devices);
    const others = Object.entries(f.statuses)
      .filter(([status]) => status !== "SUCCEEDED")
      .map(([status, count]) => `${count} ${status}`)
      .join(", ");
    rows.push(
      `| ${devices} | ${f.succeeded}${others ? ` (${others})` : ""} | ${figure(f.wallMs / 1000)} s | ${figure(f.medianDeviceMs / 1000)} s | ${figure(f.maxDeviceMs / 1000)} s | ${f.rssPerDeviceKiB} KiB | ${figure(load, 2)} | |`,
    );
  }
  return [
    "tools/campaign/load.ts: N whole simulated boards (`runDevice`: flash file, bootloader, MQTT",
    "session, agent) in one Node process, each given an AWS IoT job by the local AWS cloud through",
    `one mosquitto broker, all downloading a ${IMAGE_SIZE / 1024} KiB image from one firmware server at once,`,
    "verifying, rebooting in-process and confirming. Wall time: from the deployments to the last",
    "final status; per device: from its deployment to SUCCEEDED. Memory: the process's peak RSS",
    "growth while the devices ran over their number. A fresh Node process per count",
    "(tools/bench/fleet-workload.ts); the 1-minute load average when the count started is given,",
    "as the machine is shared.",
    "",
    "| devices | succeeded | wall time | median per device | slowest | RSS per device | load average | note |",
    "|--:|--:|--:|--:|--:|--:|--:|---|",
    ...rows,
    "",
    `- Most devices updated at once, all succeeding: ${most} (goal: ${GOAL}; ${most >= GOAL ? "met" : "NOT met"}).`,
    "",
    "What limits it: every device, the cloud and the firmware server run in one Node process,",
    "so one core's event loop carries all of them (mosquitto has the other), and the time per",
    "device grows with the count. Where jobs ended FAILED, tools/campaign/load.ts records only",
    "their final status, not the cause; the likeliest is the devices' own bounded waits (MQTT",
    "keep-alive, HTTP read timeout) expiring on a saturated event loop. Not verified here.",
  ].join("\n");
}
