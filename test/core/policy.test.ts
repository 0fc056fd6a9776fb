import { test } from "node:test";
import assert from "node:assert/strict";
import { compareVersions } from "../../src/core/version";
import { checkImageVersion, decide } from "../../src/core/policy";
import type { Offer } from "../../src/core/offer";
import type { RunningImage, SlotWriter } from "../../src/core/ports";

test("versions compare numerically, with nRF's v prefix and semver pre-releases", () => {
  assert.ok(compareVersions("1.10.0", "1.9.0")! > 0);
  assert.equal(compareVersions("v1.0.2", "1.0.2"), 0);
  assert.equal(compareVersions("0.2", "0.2.0"), 0);
  assert.ok(compareVersions("1.2.0-rc.1", "1.2.0")! < 0);
  assert.ok(compareVersions("1.2.0-rc.2", "1.2.0-rc.1")! > 0);
  assert.equal(compareVersions("build-42", "build-43"), undefined);
  assert.equal(compareVersions("build-42", "build-42"), 0);
});

const running: RunningImage = {
  slot: "ota_0",
  version: "2.0.0",
  project: "p",
  secureVersion: 0,
  state: "valid",
};
const slot = { name: "ota_1", size: 1_000_000, sectorSize: 4096 } as SlotWriter;
const base: Offer = {
  backend: "aws",
  id: "j",
  version: "2.1.0",
  size: 500_000,
  source: { kind: "http", url: "https://h/x.bin" },
  hashes: {},
  context: {},
};
const config = { allowDowngrade: false };

test("policy accepts a newer image that fits, and says current for the running version", () => {
  assert.equal(decide(base, running, slot, config).kind, "accept");
  assert.equal(decide({ ...base, version: "v2.0.0" }, running, slot, config).kind, "current");
});

test("policy refuses with a specific reason before anything is written", () => {
  const reasons: [Partial<Offer>, string, RegExp][] = [
    [{ version: "1.9.9" }, "offer-downgrade", /lower than the running 2\.0\.0/],
    [{ size: 2_000_000 }, "offer-too-large", /does not fit ota_1/],
    [{ size: 0 }, "offer-malformed", /positive whole number/],
    [{ size: 1.5 }, "offer-malformed", /positive whole number/],
    [{ version: "x".repeat(40) }, "offer-malformed", /31 characters/],
    [{ source: { kind: "http", url: "ftp://h/x.bin" } }, "offer-malformed", /http/],
    [{ source: { kind: "http", url: "file:///etc/passwd" } }, "offer-malformed", /http/],
  ];
  for (const [change, code, message] of reasons) {
    const decision = decide({ ...base, ...change }, running, slot, config);
    assert.equal(decision.kind, "refuse", JSON.stringify(change));
    if (decision.kind === "refuse") {
      assert.equal(decision.error.code, code);
      assert.match(decision.error.message, message);
    }
  }
});

test("a downgrade passes only when policy allows it and the offer is marked as a rollback", () => {
  const older = { ...base, version: "1.0.0" };
  assert.equal(decide(older, running, slot, { allowDowngrade: true }).kind, "refuse");
  assert.equal(decide({ ...older, rollback: true }, running, slot, config).kind, "refuse");
  assert.equal(
    decide({ ...older, rollback: true }, running, slot, { allowDowngrade: true }).kind,
    "accept",
  );
});

test("an offer without a version is judged by the version in its image", () => {
  const unnamed = { ...base, version: "" };
  assert.equal(decide(unnamed, running, slot, config).kind, "accept");
  assert.doesNotThrow(() => checkImageVersion(unnamed, "2.0.1", running, config));
  assert.throws(
    () => checkImageVersion(unnamed, "1.0.0", running, config),
    /lower than the running 2\.0\.0/,
  );
  assert.throws(() => checkImageVersion(unnamed, "2.0.0", running, config), /already runs/);
});

test("policy refuses an offer whose secure_version is below the anti-rollback eFuse, before download", () => {
  const below = decide({ ...base, secureVersion: 2 }, running, slot, config, 3);
  assert.equal(below.kind, "refuse");
  if (below.kind === "refuse") {
    assert.equal(below.error.code, "offer-downgrade");
    assert.match(
      below.error.message,
      /secure_version 2 is below the device's 3 \(anti-rollback eFuse 3\)/,
    );
  }
  // At the eFuse, above it, or an offer that does not say: accepted (the image header is checked later).
  assert.equal(decide({ ...base, secureVersion: 3 }, running, slot, config, 3).kind, "accept");
  assert.equal(decide({ ...base, secureVersion: 4 }, running, slot, config, 3).kind, "accept");
  assert.equal(decide(base, running, slot, config, 3).kind, "accept");
  // Without an eFuse the running image's secure_version is the floor.
  const host = { ...running, secureVersion: 5 };
  assert.equal(decide({ ...base, secureVersion: 4 }, host, slot, config).kind, "refuse");
  const malformed = decide({ ...base, secureVersion: -1 }, running, slot, config, 0);
  assert.equal(malformed.kind === "refuse" && malformed.error.code, "offer-malformed");
});
