// Hostile firmware servers through the real agent on the simulated board: 200 for a Range request,
// lying Content-Range, wrong lengths, gzip on a range, redirect loops, 403 expiry, 5xx storms.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HOSTILE_SCENARIOS, runHostile } from "../../tools/campaign/hostile";

test("every hostile server ends in the expected final state with a specific reason", async () => {
  const results = await runHostile();
  assert.equal(results.length, HOSTILE_SCENARIOS.length);
  for (const r of results) {
    assert.deepEqual(r.violations, [], r.name);
    if (r.expect.startsWith("failed")) assert.ok(r.reason.length > 0, `${r.name}: no message`);
  }
});
