// A report the cloud did not take says so, with the reason: in the simulator's --json lines
// (delivered: false, error), on its console, and on the board's console (describeNotice); the
// final report is sent again at the next connection.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Backend } from "../../src/core/backend";
import { describeNotice } from "../../src/core/agent/agent";
import type { DeviceEvent } from "../../hosts/node/device";
import { humanRenderer, jsonRenderer } from "../../tools/commands/render";
import { ScriptedCloud } from "../support/scripted-cloud";
import { SimBench, offerOf } from "../support/sim";

let bench: SimBench;
before(async () => (bench = await SimBench.start()));
after(() => bench.close());

/** The cloud's backend, whose first `succeeded` report fails as a lost connection would. */
function losingFirstSucceeded(cloud: ScriptedCloud): () => Backend {
  let lost = false;
  return () => {
    const backend = cloud.backend();
    const report = backend.report.bind(backend);
    backend.report = async (r) => {
      if (r.status === "succeeded" && !lost) {
        lost = true;
        throw new Error("MQTT connection lost before PUBACK");
      }
      return report(r);
    };
    return backend;
  };
}

test("an undelivered report is shown as such, with why, and sent again", async () => {
  const factory = bench.image("f100.bin", { version: "1.0.0", size: 60_000 });
  const next = bench.image("u110.bin", { version: "1.1.0", size: 90_000, seed: 3 });
  const cloud = new ScriptedCloud();
  cloud.offer = offerOf(next, "1.1.0");
  const isSucceeded = (e: DeviceEvent) => e.event === "report" && e.status === "succeeded";
  const backend = losingFirstSucceeded(cloud);
  const events = await bench.run({ factory, backend, until: isSucceeded });
  const lost = events.find(isSucceeded);
  assert.ok(lost && lost.event === "report");
  assert.equal(lost.delivered, false);
  assert.equal(lost.error, "Error: MQTT connection lost before PUBACK");

  const json: string[] = [];
  jsonRenderer((line) => json.push(line))(lost);
  const parsed = JSON.parse(json[0]) as Record<string, unknown>;
  assert.equal(parsed.delivered, false);
  assert.equal(parsed.error, "Error: MQTT connection lost before PUBACK");

  const printed: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((text: string) => printed.push(text) > 0) as typeof write;
  try {
    humanRenderer({ tty: false })(lost);
  } finally {
    process.stdout.write = write;
  }
  // Readable lines start with the time of day.
  assert.match(
    printed.join(""),
    /^\d\d:\d\d:\d\d\.\d{3} report: succeeded -- not delivered: Error: MQTT connection lost before PUBACK\n$/,
  );
  assert.match(
    describeNotice(lost),
    /^report succeeded for .* -- not delivered: Error: MQTT connection lost before PUBACK$/,
  );

  // The owed report goes out again at the next boot's connection, and this time it arrives.
  const again = await bench.run({ backend, until: isSucceeded });
  const resent = again.find(isSucceeded);
  assert.ok(resent && resent.event === "report" && resent.delivered);
  assert.equal(cloud.reports.filter((r) => r.status === "succeeded").length, 1);
});
