// Power cut before every flash erase and write of one update, and halfway through each: the board
// always boots, runs the old image or the new confirmed one, the cloud's final word matches what
// runs, and a download cut short resumes from the journal instead of from zero.
import { test } from "node:test";
import assert from "node:assert/strict";
import { powerCutSweep } from "../../tools/campaign/powercut";

test("a power cut at any flash operation of an update never bricks the board or misleads the cloud", async () => {
  const summary = await powerCutSweep({
    imageSize: 256 * 1024,
    journalIntervalBytes: 16 * 1024,
    torn: true,
  });
  assert.deepEqual(summary.violations, []);
  // Every operation of the update was a cut point, untorn and torn.
  assert.equal(summary.cases.length, 2 * summary.totalOperations);
  const phases = Object.keys(summary.byPhase).join(" | ");
  for (const phase of ["downloading", "staging", "testing"])
    assert.match(phases, new RegExp(phase), `no cut landed while ${phase}`);
  // Both endings occur: cuts before the switch finish the update, cuts during the first boot roll back.
  assert.ok(summary.cases.some((c) => c.runs === "new"));
  assert.ok(summary.cases.some((c) => c.runs === "old" && c.failureCode === "rolled-back"));
  // At least one cut mid-download resumed from a journaled offset rather than from zero.
  assert.ok(
    summary.cases.some((c) => c.refetched !== undefined && c.refetched < 256 * 1024 - 4096),
  );
});
