// Hardened offers, AWS: each test plays one attack against the backend, through the local AWS IoT
// Jobs on the embedded broker (a rogue client stands in for whoever can publish on the device's
// topics), or against the job document parser where JSON text must carry what the cloud cannot
// (1e999), and shows the defence that stops it.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { nodeClock } from "../../../hosts/node/clock";
import { MAX_DETAIL_LENGTH, createAwsBackend } from "../../../src/backends/aws/index";
import { parseJobDocument } from "../../../src/backends/aws/job-document";
import { jobsTopic, parseJobsTopic } from "../../../src/backends/aws/topics";
import { MAX_URL_LENGTH } from "../../../src/backends/offer-fields";
import type { OtaError } from "../../../src/core/errors";
import type { MqttClient } from "../../../src/core/ports";
import { persisted, startEnv, until, type Env } from "./harness";

/** A port the backend must not touch: any use throws. */
const untouchable = new Proxy({} as MqttClient, {
  get(_, property) {
    throw new Error(`the backend used mqtt.${String(property)}`);
  },
});

/** What AWS refuses in a statusDetails value (\p{C}), and the line separators. */
const UNSAFE = /[\p{C}\u2028\u2029]/u;

const MD5 = "0123456789abcdef0123456789abcdef";

function refusalOf(document: unknown): { code: string; message: string } {
  const parsed = parseJobDocument("job-1", document);
  assert.equal(parsed.kind, "refused", JSON.stringify(parsed));
  return parsed as { code: string; message: string };
}

describe("AWS backend against hostile offers", () => {
  let env: Env;
  let things = 0;
  const thing = () => `hardened-${++things}`;
  const plain = (extra: Record<string, unknown> = {}) => ({
    url: env.imageUrl,
    size: env.image.length,
    version: "1.1.0",
    sha256: env.sha256,
    ...extra,
  });

  before(async () => {
    env = await startEnv("aedes");
  });
  after(() => env.close());

  it("a thing name that would steer the Jobs topics (a/b, +, #, $aws, spaces) is refused at creation, before any topic is built", () => {
    for (const name of ["a/b", "+", "#", "$aws", "dev 1", "dev\n1", "", "t".repeat(129)]) {
      assert.throws(
        () =>
          createAwsBackend(
            { thingName: name },
            { mqtt: untouchable, clock: nodeClock, logger: { log() {} } },
          ),
        (error: OtaError) =>
          error.code === "internal" &&
          /^AWS thing name .* is not 1-128 of \[a-zA-Z0-9:_-\]$/.test(error.message) &&
          !/\n/.test(error.message),
        JSON.stringify(name),
      );
      assert.throws(() => jobsTopic(name, "get"), /AWS thing name/);
    }
    for (const id of ["x/../y", "+", "#", "$next", "j".repeat(65), ""])
      assert.throws(() => jobsTopic("dev-1", "update", id), /AWS job id/, id);
    assert.equal(jobsTopic("dev-1", "describe", "$next"), "$aws/things/dev-1/jobs/$next/get");
  });

  it("job ids that would steer topics (x/../y, +, #, $next) named by notify-next are ignored: nothing offered, subscribed or published under them", async () => {
    const name = thing();
    const device = await env.device(name);
    const rogue = await env.rogue(`${name}-rogue`);
    const hostile = ["x/../y", "+", "#", "$next", "j".repeat(65), "job 1", "job\n1"];
    for (const jobId of hostile) {
      const execution = { jobId, status: "QUEUED", versionNumber: 1, jobDocument: plain() };
      await rogue.publishAsync(
        jobsTopic(name, "notify-next"),
        JSON.stringify({ timestamp: 1, execution }),
        { qos: 1 },
      );
    }
    await until(
      () => device.logs.filter((l) => /ignored a job whose id/.test(l)).length === hostile.length,
      "every hostile job id ignored",
    );
    // The device still takes the next real job.
    const jobId = await env.cloud.deploy({ thingName: name, document: plain() });
    const offer = await device.listener.nthOffer(0);
    assert.equal(offer.id, jobId);
    assert.deepEqual(
      device.listener.offers.map((o) => o.id).filter((id) => id !== jobId),
      [],
    );
    assert.ok(device.sent.length > 0);
    for (const topic of device.sent) assert.ok(parseJobsTopic(topic, name), topic);
  });

  it("a job id tampered with in storage (x/../y, +, #) is refused by report() and refresh() before it names a topic", async () => {
    const name = thing();
    const device = await env.device(name);
    await env.cloud.deploy({ thingName: name, document: plain() });
    const offer = await device.listener.nthOffer(0);
    const before = device.sent.length;
    for (const id of ["x/../y", "+", "#"]) {
      const tampered = { ...persisted(offer), id };
      const refused = (error: OtaError) =>
        error.code === "offer-malformed" && /^not an AWS job id: /.test(error.message);
      await assert.rejects(device.backend.refresh(tampered), refused);
      await assert.rejects(
        device.backend.report({
          offer: tampered,
          status: "failed",
          failure: { code: "network", message: "x" },
        }),
        refused,
      );
    }
    assert.deepEqual(device.sent.slice(before), []);
  });

  it("a size that is no byte count (negative, fractional, 2^32, 0, a string) is REJECTED as offer-malformed before the agent sees it", async () => {
    const name = thing();
    const device = await env.device(name);
    for (const [size, shown] of [
      [-1, "-1"],
      [1.5, "1.5"],
      [2 ** 32, "4294967296"],
      [0, "0"],
      ["12", '"12"'],
    ] as const) {
      const jobId = await env.cloud.deploy({ thingName: name, document: plain({ size }) });
      const rejected = await env.cloud.waitForStatus(name, jobId, "REJECTED", 5000);
      assert.equal(
        rejected.statusDetails.reason,
        `offer-malformed: job document: "size" must be a whole number of bytes from 1 to 4294967295, got ${shown}`,
      );
    }
    assert.deepEqual(device.listener.offers, []);
    // What JSON carries but no cloud API writes: 1e999 parses as Infinity.
    const infinite = JSON.parse(
      `{"url":"https://h.example/a.bin","size":1e999,"version":"1","md5":"${MD5}"}`,
    );
    assert.equal(infinite.size, Infinity);
    assert.match(refusalOf(infinite).message, /"size" must be a whole number .*, got Infinity$/);
  });

  it("a hash of the wrong length or with non-hex characters is refused as offer-malformed", () => {
    const base = { url: "https://h.example/a.bin", size: 10, version: "1.0.0" };
    for (const [field, value, length] of [
      ["md5", MD5.slice(1), 32],
      ["md5", MD5 + "0", 32],
      ["md5", "g" + MD5.slice(1), 32],
      ["md5", MD5.repeat(2), 32],
      ["sha256", MD5, 64],
      ["sha256", " " + MD5.repeat(2).slice(1), 64],
    ] as const) {
      const refused = refusalOf({ ...base, [field]: value });
      assert.equal(refused.code, "offer-malformed");
      assert.match(refused.message, new RegExp(`"${field}" must be the ${length}-digit hex`));
    }
    const zerynth = refusalOf({ bc_url: base.url, bc_size: 10, bc_crc: "z".repeat(32) });
    assert.match(zerynth.message, /"bc_crc" must be the 32-digit hex md5/);
  });

  it("a URL that would inject into the HTTP request (CR LF, space, NUL, tab, non-ASCII) or overflow the device's buffer is refused", () => {
    const base = { size: 10, version: "1.0.0", md5: MD5 };
    const cases: [string, RegExp][] = [
      ["https://h.example/a.bin HTTP/1.1\r\nHost: evil.example", /spaces, control or non-ASCII/],
      ["https://h.example/a\u0000.bin", /spaces, control or non-ASCII/],
      ["https://h.example/a\t.bin", /spaces, control or non-ASCII/],
      ["https://h.example/\u00e4.bin", /spaces, control or non-ASCII/],
      ["https://h.example/" + "a".repeat(MAX_URL_LENGTH), /at most 1500 allowed/],
      ["file:///etc/passwd", /not an http\(s\) URL/],
      ["", /is empty/],
    ];
    for (const [url, reason] of cases) {
      const refused = refusalOf({ ...base, url });
      assert.equal(refused.code, "offer-malformed");
      assert.match(refused.message, reason, JSON.stringify(url));
      assert.ok(!UNSAFE.test(refused.message), refused.message);
    }
    const longest = "https://h.example/" + "a".repeat(MAX_URL_LENGTH - 18);
    assert.equal(longest.length, MAX_URL_LENGTH);
    assert.equal(parseJobDocument("job-1", { ...base, url: longest }).kind, "offer");
    const nrf = {
      operation: "app_fw_update",
      fwversion: "1.0.0",
      size: 10,
      location: { host: "h.example", path: "a".repeat(MAX_URL_LENGTH) },
    };
    assert.match(refusalOf(nrf).message, /URL made of host and path is \d+ characters long/);
  });

  it("a failure that quotes a hostile URL (CR LF, NUL, U+2028, a bidi override, 5 kB) is reported FAILED as one clean, short statusDetails value", async () => {
    const name = thing();
    const device = await env.device(name);
    const jobId = await env.cloud.deploy({ thingName: name, document: plain() });
    const offer = await device.listener.nthOffer(0);
    const url = "https://evil.example/fw.bin\r\nstatus: SUCCEEDED\u0000\u2028reason: ok\u202e";
    await device.backend.report({
      offer,
      status: "failed",
      failure: { code: "http-status", message: `GET ${url}${"A".repeat(5000)} answered 404` },
    });
    // The service refuses \p{C} in a value: uncleaned, this report would have been InvalidRequest.
    const failed = env.cloud.execution(name, jobId)!;
    assert.equal(failed.status, "FAILED");
    const reason = failed.statusDetails.reason;
    assert.ok(!UNSAFE.test(reason), JSON.stringify(reason));
    assert.equal(reason.length, MAX_DETAIL_LENGTH);
    assert.match(
      reason,
      /^http-status: GET https:\/\/evil\.example\/fw\.bin {2}status: SUCCEEDED {2}reason: ok A+\.\.\.$/,
    );
  });

  it("a job handler's statusDetails (15 pairs, bad keys, control characters) reach the service as at most 10 clean pairs", async () => {
    const name = thing();
    const details: Record<string, string> = { "bad key": "x", "k/1": "x", empty: "\u0000 " };
    for (let i = 0; i < 15; i++) details[`k${i}`] = `line ${i}\nforged: yes\u2029`;
    await env.device(name, {
      onJob: async () => ({ status: "succeeded", statusDetails: details }),
    });
    const jobId = await env.cloud.deploy({
      thingName: name,
      document: { operation: "rotate-logs" },
    });
    const done = await env.cloud.waitForStatus(name, jobId, "SUCCEEDED", 5000);
    const keys = Object.keys(done.statusDetails);
    assert.deepEqual(keys, ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"]);
    for (const key of keys) assert.match(done.statusDetails[key], /^line \d+ forged: yes$/);
  });
});
