// A $next/get answer that crosses a notify-next: the service answered "no job" before the job
// existed, the network delivered that answer after the notification of the job. The device must
// not take the stale answer for a withdrawal.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sleep, startEnv, until, type Env } from "./harness";

describe("AWS backend: $next/get answers matched to their time", () => {
  let env: Env;
  before(async () => {
    env = await startEnv("aedes");
  });
  after(() => env.close());

  it("a stale 'no execution' answer that arrives after notify-next for a job does not withdraw it", async () => {
    const thing = "stale-next-1";
    env.cloud.delayReplies(`/things/${thing}/jobs/$next/get`, 600);
    const device = await env.device(thing);
    const jobId = await env.cloud.deploy({
      thingName: thing,
      document: {
        url: env.imageUrl,
        size: env.image.length,
        version: "1.1.0",
        sha256: env.sha256,
      },
    });
    const offer = await device.listener.nthOffer(0);
    assert.equal(offer.id, jobId);
    // The delayed answer (made before the job existed) arrives now.
    await until(
      () =>
        env.cloud.history.some(
          (h) => h.direction === "out" && h.topic.endsWith("$next/get/accepted"),
        ),
      "the delayed $next/get answer",
    );
    await sleep(300);
    assert.deepEqual(device.listener.cancels, [], device.logs.join("\n"));
    // Reports on the job are delivered: the device still holds it.
    await device.backend.report({
      offer,
      status: "downloading",
      progress: { bytes: 0, total: offer.size },
    });
    assert.equal(env.cloud.execution(thing, jobId)?.status, "IN_PROGRESS");
    await device.shutdown();
  });
});
