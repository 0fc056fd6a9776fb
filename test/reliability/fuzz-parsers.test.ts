// A few thousand fast-check cases per parser (the campaign runs 100,000+): job documents,
// ThingsBoard attributes, Tencent update_firmware, image headers and the resume journal never
// throw, and each rejection carries a specific reason.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FUZZ_TARGETS } from "../../tools/campaign/fuzz";

const CASES = 2000;
const SEED = 20261122;

for (const [name, fuzz] of Object.entries(FUZZ_TARGETS)) {
  test(`fuzzed ${name} input: no exception escapes and every rejection has a reason`, async () => {
    const figure = await fuzz(CASES, SEED);
    assert.equal(figure.failure, undefined);
    const rejected = Object.values(figure.rejected).reduce((a, b) => a + b, 0);
    assert.equal(figure.accepted + rejected, CASES);
    // The generators reach both sides of each parser.
    assert.ok(figure.accepted > 0, "nothing was accepted");
    assert.ok(rejected > 0, "nothing was rejected");
    for (const reason of Object.keys(figure.rejected)) assert.ok(reason.trim().length > 0);
  });
}
