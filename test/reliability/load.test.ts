// Fifty simulated devices update at once through mosquitto with the local AWS IoT Jobs cloud (the
// campaign runs 200): every job ends SUCCEEDED.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadTest } from "../../tools/campaign/load";
import { mosquittoSkip } from "../support/mosquitto";

test("50 devices updating at once all succeed", { skip: mosquittoSkip }, async () => {
  const figure = await loadTest({ devices: 50, imageSize: 96 * 1024, timeoutMs: 60_000 });
  assert.deepEqual(figure.statuses, { SUCCEEDED: 50 });
});
