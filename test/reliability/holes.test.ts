// The holes an attack from outside found, each replayed on the simulated board with the real agent
// (tools/campaign/holes, also a part of `npm run campaign`).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  HoleBench,
  cancelInRetryWait,
  credentialsInUrl,
  permanentFailure,
  sameVersionOtherImage,
  trickle,
} from "../../tools/campaign/holes/board";
import { refusedCredentials } from "../../tools/campaign/holes/refused";
import { makePki } from "../support/certs";

describe("holes found from outside, on the simulated board", () => {
  let bench: HoleBench;
  let tlsBench: HoleBench;
  before(async () => {
    bench = await HoleBench.start();
    const pki = makePki();
    tlsBench = await HoleBench.start({ tls: { cert: pki.serverCert, key: pki.serverKey } });
  });
  after(async () => {
    await bench.close();
    await tlsBench.close();
  });

  it("a server trickling a byte at a time fails the update for its rate or budget, within the budget", async () => {
    const result = await trickle(bench);
    assert.deepEqual(result.violations, [], result.outcome);
  });

  it("a cancel during a 30 s retry wait ends the wait at once, and no failed report is sent", async () => {
    const result = await cancelInRetryWait(bench);
    assert.deepEqual(result.violations, [], result.outcome);
  });

  it("an untrusted TLS certificate fails at once with tls-untrusted, without retries", async () => {
    const result = await permanentFailure(tlsBench, "tls-untrusted");
    assert.deepEqual(result.violations, [], result.outcome);
  });

  it("a 5 MB response header fails at once with http-protocol, without retries", async () => {
    const result = await permanentFailure(bench, "huge-headers");
    assert.deepEqual(result.violations, [], result.outcome);
  });

  it("the running version with another image is another update (a new job, or the same id again)", async () => {
    for (const sameId of [false, true]) {
      const result = await sameVersionOtherImage(bench, sameId, sameId ? 11 : 12);
      assert.deepEqual(result.violations, [], result.outcome);
    }
  });

  it("credentials in the image URL (user:password, presigned query) are never written to flash", async () => {
    const result = await credentialsInUrl(bench);
    assert.deepEqual(result.violations, [], result.outcome);
  });
});

describe("holes found from outside, on the command line", () => {
  it("a device whose credentials the broker refuses says so, stays up, retries with backoff, and connects once the server knows it", async () => {
    const result = await refusedCredentials();
    assert.deepEqual(result.violations, [], result.outcome);
  });
});
