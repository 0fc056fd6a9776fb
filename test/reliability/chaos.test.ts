// Seeded network chaos between the device and each local cloud: drops, resets and truncation in
// the middle of a body, stalls, slow trickles and broker outages. Every run reaches a final state
// within the bound, and the cloud's status names the image that runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { networkChaos } from "../../tools/campaign/chaos";

for (const backend of ["aws", "thingsboard", "tencent"] as const) {
  test(`${backend}: every run through the chaos proxies ends in a consistent final state`, async () => {
    const summary = await networkChaos({
      backend,
      runs: 4,
      seed: 17,
      imageSize: 160 * 1024,
      boundMs: 45_000,
    });
    assert.deepEqual(summary.violations, []);
    assert.equal(summary.runs.length, 4);
    // The plan dealt real faults, not only clean connections.
    const faults = Object.entries(summary.faults).filter(([k]) => k !== "none");
    assert.ok(faults.reduce((n, [, v]) => n + v, 0) > 0);
  });
}
