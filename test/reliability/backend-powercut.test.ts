// Power cuts at seeded random flash operations while each local cloud drives the update over
// MQTT: the board always boots, and the cloud's final status names the image that runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { backendPowerCuts } from "../../tools/campaign/backend-cuts";

for (const backend of ["aws", "thingsboard", "tencent"] as const) {
  test(`${backend}: after a power cut at a random flash operation the cloud's final status matches the running image`, async () => {
    const summary = await backendPowerCuts({ backend, runs: 10, seed: 9, imageSize: 192 * 1024 });
    assert.deepEqual(summary.violations, []);
    const total = Object.values(summary.outcomes).reduce((a, b) => a + b, 0);
    assert.equal(total, 10);
  });
}
