import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay } from "../../src/core/download/backoff";

const policy = { baseMs: 1000, maxMs: 60_000 };

describe("backoffDelay", () => {
  it("draws a full-jitter delay below a ceiling that doubles per attempt", () => {
    for (let attempt = 0; attempt < 6; attempt++) {
      const ceiling = 1000 * 2 ** attempt;
      assert.equal(
        backoffDelay(attempt, policy, () => 0),
        0,
      );
      assert.equal(
        backoffDelay(attempt, policy, () => 0.5),
        ceiling / 2,
      );
      assert.equal(
        backoffDelay(attempt, policy, () => 0.999999),
        ceiling - 1,
      );
    }
  });

  it("never exceeds the policy's maximum, however many attempts", () => {
    for (const attempt of [6, 7, 20, 100, 10_000])
      assert.ok(backoffDelay(attempt, policy, () => 0.999999) < 60_000);
    assert.equal(
      backoffDelay(1e9, policy, () => 0.5),
      30_000,
    );
  });

  it("waits at least the server's Retry-After, within the maximum", () => {
    assert.equal(
      backoffDelay(0, policy, () => 0.1, 5000),
      5000,
    );
    assert.equal(
      backoffDelay(5, policy, () => 0.9, 5000),
      28_800,
    );
    assert.equal(
      backoffDelay(0, policy, () => 0.1, 3_600_000),
      60_000,
    );
    assert.equal(
      backoffDelay(0, policy, () => 0.5, 0),
      500,
    );
  });

  it("spreads a fleet's retries over the whole window", () => {
    let seed = 3;
    const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const delays = Array.from({ length: 1000 }, () => backoffDelay(3, policy, random));
    const buckets = [0, 0, 0, 0];
    for (const d of delays) buckets[Math.floor(d / 2000)]++;
    assert.ok(
      buckets.every((n) => n > 200),
      `buckets ${buckets}`,
    );
  });
});
