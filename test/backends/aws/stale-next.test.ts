// A $next/get answer that crosses a notify-next: the service answered "no job" before the job
// existed, the network delivered that answer after the notification of the job. The device must
// not take the stale answer for a withdrawal (the scenario is the campaign's, tools/campaign/holes).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { staleNextAnswer } from "../../../tools/campaign/holes/backends";
import { startEnv, type Env } from "./harness";

describe("AWS backend: $next/get answers matched to their time", () => {
  let env: Env;
  before(async () => {
    env = await startEnv("aedes");
  });
  after(() => env.close());

  it("a stale 'no execution' answer that arrives after notify-next for a job does not withdraw it", async () => {
    const result = await staleNextAnswer(env, 1);
    assert.deepEqual(result.violations, [], result.outcome);
  });
});
