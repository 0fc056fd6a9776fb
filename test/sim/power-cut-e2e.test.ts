// The device as a separate process, as a person runs it: killed with SIGKILL in the middle of the
// download and again in the middle of the otadata switch, restarted with the same command line
// each time, and the update completes, resumed from the durable offset rather than from zero.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startLocalCloud } from "../../tools/clouds/local";
import { writeImageFile } from "../../tools/image/build";
import { runDeviceProcess as runDevice } from "../support/device-process";

/** ota_1 starts at 0x200000 in the 4 MiB layout; otadata is the two sectors at 0xd000. */
const MID_DOWNLOAD = String(0x200000 + 0x90000);
const OTADATA = "0xd000+0x2000";

test("SIGKILL during the download and during the otadata switch: the update resumes and completes", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-powercut-"));
  const cloud = await startLocalCloud("aws");
  try {
    const factory = path.join(dir, "v100.bin");
    const update = path.join(dir, "v110.bin");
    writeImageFile(factory, { version: "1.0.0", size: 64 * 1024 });
    writeImageFile(update, { version: "1.1.0", size: 1536 * 1024, seed: 3 });
    await cloud.deploy(update, { thing: "cut-1" });
    const args = ["--backend", "aws", "--broker", cloud.brokerUrl, "--thing", "cut-1"].concat([
      "--flash",
      path.join(dir, "cut-1.flash"),
      "--factory",
      factory,
      "--insecure-plaintext",
    ]);
    const never = () => false;

    // 1. Power fails when the download reaches 576 KiB into the slot.
    const first = await runDevice(args, { OTAFLOW_POWER_CUT_AT_ADDRESS: MID_DOWNLOAD }, never);
    assert.equal(first.signal, "SIGKILL");
    const states1 = first.events.flatMap((e) => (e.event === "state" ? [e.to] : []));
    assert.equal(states1[states1.length - 1], "downloading");

    // 2. Restarted: it resumes, verifies, and power fails in the middle of the otadata switch.
    const second = await runDevice(args, { OTAFLOW_POWER_CUT_AT_ADDRESS: OTADATA }, never);
    assert.equal(second.signal, "SIGKILL");
    const resume = second.events.find((e) => e.event === "resume");
    assert.ok(resume && resume.event === "resume");
    assert.ok(resume.offset > 0 && resume.offset <= 0x90000, `resumed at ${resume.offset}`);
    assert.ok(
      0x90000 - resume.offset <= 64 * 1024 + 4096,
      "at most one journal interval is fetched again",
    );
    const states2 = second.events.flatMap((e) => (e.event === "state" ? [e.to] : []));
    assert.equal(states2[states2.length - 1], "staging");

    // 3. Restarted again, untouched: still 1.0.0 (the switch never happened), then the update
    //    completes, and the new image confirms itself before the cloud hears SUCCEEDED.
    const third = await runDevice(
      args,
      {},
      (e) => e.event === "report" && e.status === "succeeded" && e.delivered,
    );
    const boots = third.events.flatMap((e) =>
      e.event === "boot" ? [`${e.version}:${e.state}`] : [],
    );
    assert.deepEqual(boots, ["1.0.0:valid", "1.1.0:pending-verify"]);
    const outcome = await cloud.outcome({ thing: "cut-1" }, 10_000);
    assert.equal(outcome.succeeded, true, outcome.status);

    const ranges = cloud
      .firmwareRequests()
      .filter((r) => r.path.includes("1.1.0"))
      .map((r) => r.range);
    assert.equal(ranges[0], undefined, "the first download starts at zero");
    assert.equal(ranges[1], `bytes=${resume.offset}-`, "the second resumes at the durable offset");
    const third0 = Number(/bytes=(\d+)-/.exec(ranges[2] ?? "")?.[1]);
    assert.ok(third0 > resume.offset, `the third resumes past the second: ${ranges[2]}`);
  } finally {
    await cloud.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
