// No downgrades on the simulated board: a lower version is refused before any write unless the
// offer is a deliberate rollback that policy allows, and the app descriptor's secure_version never
// decreases, rollback or not.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import type { Offer } from "../../src/core/offer";
import type { AppImageOptions } from "../../tools/image/build";
import { ScriptedCloud } from "../support/scripted-cloud";
import { SimBench, boots, finalReport, offerOf } from "../support/sim";

let bench: SimBench;
before(async () => (bench = await SimBench.start()));
after(() => bench.close());

/** From a fresh board running `factory`, offers `next`; returns the cloud and the events. */
async function offer(
  factory: AppImageOptions,
  next: AppImageOptions,
  extra: Partial<Offer> = {},
  allowDowngrade = false,
) {
  fs.rmSync(bench.flashPath, { force: true });
  const running = bench.image("running.bin", { size: 60_000, ...factory });
  const image = bench.image(`next-${next.version}-${next.secureVersion ?? 0}.bin`, {
    size: 120_000,
    seed: 7,
    ...next,
  });
  const cloud = new ScriptedCloud();
  cloud.offer = offerOf(image, next.version, extra);
  const requests = bench.server.requests.length;
  const events = await bench.run({
    factory: running,
    backend: () => cloud.backend(),
    agent: { allowDowngrade },
    until: finalReport,
  });
  const last = cloud.reports[cloud.reports.length - 1];
  return { last, events, fetched: bench.server.requests.length - requests };
}

test("attack: replaying an old, vulnerable version is refused before a byte is fetched", async () => {
  const { last, events, fetched } = await offer({ version: "2.0.0" }, { version: "1.4.0" });
  assert.equal(last.status, "rejected");
  assert.equal(last.failure?.code, "offer-downgrade");
  assert.match(last.failure!.message, /version 1\.4\.0 is lower than the running 2\.0\.0/);
  assert.equal(fetched, 0);
  assert.equal(boots(events).length, 1);
});

test("attack: marking the old version as a rollback does not help unless policy allows it", async () => {
  const refused = await offer({ version: "2.0.0" }, { version: "1.4.0" }, { rollback: true });
  assert.equal(refused.last.failure?.code, "offer-downgrade");
  // The owner's deliberate rollback, allowed by policy, installs.
  const allowed = await offer({ version: "2.0.0" }, { version: "1.4.0" }, { rollback: true }, true);
  assert.equal(allowed.last.status, "succeeded");
  assert.deepEqual(
    boots(allowed.events).map((b) => b.version),
    ["2.0.0", "1.4.0"],
  );
});

test("attack: an image with a lower secure_version is refused, even as an allowed rollback", async () => {
  const running = { version: "2.0.0", secureVersion: 3 };
  const newer = await offer(running, { version: "2.1.0", secureVersion: 2 });
  assert.equal(newer.last.status, "failed");
  assert.equal(newer.last.failure?.code, "image-mismatch");
  assert.match(
    newer.last.failure!.message,
    /image secure_version 2 is below the device's 3 \(anti-rollback\)/,
  );
  assert.equal(boots(newer.events).length, 1);

  const rollback = await offer(
    running,
    { version: "1.9.0", secureVersion: 2 },
    { rollback: true },
    true,
  );
  assert.equal(rollback.last.failure?.code, "image-mismatch");
  assert.equal(boots(rollback.events).length, 1);

  // Raising it, or keeping it, is fine.
  const raised = await offer(running, { version: "2.1.0", secureVersion: 4 });
  assert.equal(raised.last.status, "succeeded");
});

test("attack: an offer whose secure_version is below the chip's eFuse is refused before a byte is fetched", async () => {
  // The factory image (secure_version 3) burnt the simulated eFuse to 3 at its first boot.
  const { last, events, fetched } = await offer(
    { version: "2.0.0", secureVersion: 3 },
    { version: "2.1.0", secureVersion: 2 },
    { secureVersion: 2 },
  );
  assert.equal(last.status, "rejected");
  assert.equal(last.failure?.code, "offer-downgrade");
  assert.match(
    last.failure!.message,
    /secure_version 2 is below the device's 3 \(anti-rollback eFuse 3\)/,
  );
  assert.equal(fetched, 0);
  assert.equal(boots(events).length, 1);
  assert.equal(JSON.parse(fs.readFileSync(`${bench.flashPath}.efuse`, "utf8")).secureVersion, 3);
});
