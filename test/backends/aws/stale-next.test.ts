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
    // Below the device's response timeout (1000 ms), so that it does not send the request again.
    env.cloud.delayReplies(`/things/${thing}/jobs/$next/get`, 700);
    const device = await env.device(thing);
    // The service has the question before the job exists.
    await until(
      () =>
        env.cloud.history.some(
          (h) => h.direction === "in" && h.topic.endsWith(`${thing}/jobs/$next/get`),
        ),
      "the boot-time $next/get",
    );
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
    // The delayed answer (made before the job existed) arrives now: the device either takes it
    // for a withdrawal or asks again.
    const answers = () =>
      env.cloud.history.filter(
        (h) => h.direction === "out" && h.topic.endsWith("$next/get/accepted"),
      ).length;
    await until(
      () => device.listener.cancels.length > 0 || answers() >= 2,
      "a withdrawal or a second $next/get",
      5000,
    );
    await sleep(200);
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
