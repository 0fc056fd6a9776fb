// The Tencent backend against the local IoT Hub, through the cloud's own broker (aedes, with the
// platform's credential check) and through mosquitto, with real downloads from the firmware server.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { FailureCode } from "../../../src/core/errors";
import type { Offer } from "../../../src/core/offer";
import type { Clock } from "../../../src/core/ports";
import { createTencentBackend, mqttIdentity } from "../../../src/backends/tencent/index";
import { connectMqtt } from "../../../hosts/node/mqtt";
import { startTencentCloud } from "../../../tools/clouds/tencent/index";
import { makePki } from "../../support/certs";
import { mosquittoSkip, startMosquitto } from "../../support/mosquitto";
import {
  PRODUCT,
  RecordingLogger,
  TestAgent,
  clock,
  download,
  startTier,
  type Tier,
  type Transfer,
} from "./support";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const kind of ["aedes", "mosquitto"] as const) {
  describe(
    `tencent backend through ${kind}`,
    { skip: kind === "mosquitto" ? mosquittoSkip : undefined },
    () => {
      let tier: Tier;
      before(async () => {
        tier = await startTier(kind);
      });
      after(async () => {
        await tier?.close();
      });

      const deploy = (
        deviceName: string,
        extra: { url?: string | (() => string); md5?: string } = {},
      ) =>
        tier.cloud.deploy({
          productId: PRODUCT,
          deviceName,
          version: "2.0.0",
          url: extra.url ?? tier.fw.url + "/fw.bin",
          md5: extra.md5 ?? tier.md5,
          size: tier.image.length,
        });

      const versionsReported = (deviceName: string, count: number) =>
        tier.cloud.waitFor(
          () => tier.cloud.device(PRODUCT, deviceName).versionReports.length >= count,
          5000,
          `${count} report_version from ${deviceName}`,
        );

      it("reports the version, turns update_firmware into an offer, and reports downloading, burning and done", async () => {
        const { deviceName, secret } = tier.newDevice();
        const old = await tier.boot(deviceName, secret, "1.0.0");
        await versionsReported(deviceName, 1);
        const task = deploy(deviceName);
        const offer = await old.agent.nthOffer(1);
        assert.deepEqual(offer, {
          backend: "tencent",
          id: "2.0.0",
          version: "2.0.0",
          size: tier.image.length,
          source: { kind: "http", url: tier.fw.url + "/fw.bin" },
          hashes: { md5: tier.md5 },
          context: {},
        });
        assert.equal(await download(old.backend, offer, { parts: [], bytes: 0 }), "verified");
        await old.backend.report({ offer, status: "updating" });
        await tier.cloud.waitFor(() => task.status === "burning", 5000, "burning");
        await old.down();

        // The new image boots, reports its version (the target: nothing is re-sent) and confirms.
        const fresh = await tier.boot(deviceName, secret, "2.0.0");
        await versionsReported(deviceName, 2);
        await fresh.backend.report({ offer, status: "testing" });
        await fresh.backend.report({ offer, status: "succeeded", previousVersion: "1.0.0" });
        assert.equal((await tier.cloud.waitForFinal(PRODUCT, deviceName, 5000)).status, "done");
        await fresh.down();

        const device = tier.cloud.device(PRODUCT, deviceName);
        assert.deepEqual(device.versionReports, ["1.0.0", "2.0.0"]);
        assert.equal(
          task.sent.length,
          1,
          "update_firmware sent once: the device reached the target",
        );
        assert.equal(fresh.agent.offers.length, 0);
        const states = device.progress.map((p) => p.state);
        assert.deepEqual(
          states.filter((s, i) => s !== "downloading" || states[i - 1] !== "downloading"),
          ["downloading", "burning", "done"],
          "one burning for verified + updating, nothing for testing",
        );
        const percents = device.progress
          .filter((p) => p.state === "downloading")
          .map((p) => p.percent);
        assert.equal(percents[0], "0");
        assert.equal(percents[percents.length - 1], "100");
        for (let i = 1; i < percents.length; i++)
          assert.ok(
            Number(percents[i]) > Number(percents[i - 1]),
            `percents rise: ${percents.join(",")}`,
          );
        for (const p of device.progress) {
          assert.deepEqual(p.problems, []);
          assert.equal(p.version, "2.0.0");
          assert.equal(p.resultCode, "0");
          assert.equal(p.qos, p.state === "downloading" ? 0 : 1, `QoS of ${p.state}`);
        }
      });

      it("resumes after a power cut in the middle of the download when the platform re-sends update_firmware", async () => {
        const { deviceName, secret } = tier.newDevice();
        const first = await tier.boot(deviceName, secret, "1.0.0");
        const task = deploy(deviceName);
        const offer = await first.agent.nthOffer(1);
        const transfer: Transfer = { parts: [], bytes: 0 };
        assert.equal(
          await download(first.backend, offer, transfer, { cutAt: tier.image.length / 2 }),
          "cut",
        );
        await first.mqtt.close(); // the power goes: no report, no clean stop

        const second = await tier.boot(deviceName, secret, "1.0.0");
        const again = await second.agent.nthOffer(1);
        assert.deepEqual(again, offer, "the same update, offered again");
        assert.equal(task.sent.length, 2);
        const resumedAt = transfer.bytes;
        assert.ok(resumedAt > 0 && resumedAt < tier.image.length);
        assert.equal(await download(second.backend, again, transfer), "verified");
        assert.ok(
          tier.fw.requests.some((r) => r.range === `bytes=${resumedAt}-` && r.status === 206),
          "the second download asked for the rest only",
        );
        await second.backend.report({ offer: again, status: "updating" });
        await second.down();
        const fresh = await tier.boot(deviceName, secret, "2.0.0");
        await fresh.backend.report({ offer: again, status: "succeeded" });
        assert.equal((await tier.cloud.waitForFinal(PRODUCT, deviceName, 5000)).status, "done");
        await fresh.down();
      });

      const downloadFailures: {
        name: string;
        code: FailureCode;
        resultCode: string;
        setup: (deviceName: string) => void;
        readTimeoutMs?: number;
      }[] = [
        {
          name: "-1 when the transfer stalls",
          code: "timeout",
          resultCode: "-1",
          setup: (deviceName) => {
            tier.fw.setFault({ kind: "stall", bytes: 4096, times: 1 });
            deploy(deviceName);
          },
          readTimeoutMs: 300,
        },
        {
          name: "-2 when the file does not exist",
          code: "not-found",
          resultCode: "-2",
          setup: (deviceName) => deploy(deviceName, { url: tier.fw.url + "/gone.bin" }),
        },
        {
          name: "-3 when the URL's signature expired (403)",
          code: "url-expired",
          resultCode: "-3",
          setup: (deviceName) => deploy(deviceName, { url: tier.fw.presign("fw.bin", -1000) }),
        },
        {
          name: "-4 when the MD5 does not match",
          code: "checksum-mismatch",
          resultCode: "-4",
          setup: (deviceName) => deploy(deviceName, { md5: "0123456789abcdef0123456789abcdef" }),
        },
      ];
      for (const failure of downloadFailures) {
        it(`reports fail ${failure.name}`, async () => {
          const { deviceName, secret } = tier.newDevice();
          const device = await tier.boot(deviceName, secret, "1.0.0");
          failure.setup(deviceName);
          const offer = await device.agent.nthOffer(1);
          const outcome = await download(device.backend, offer, { parts: [], bytes: 0 }, failure);
          assert.equal(typeof outcome === "object" ? outcome.code : outcome, failure.code);
          const task = await tier.cloud.waitForFinal(PRODUCT, deviceName, 5000);
          assert.equal(task.status, "fail");
          assert.equal(task.resultCode, failure.resultCode);
          assert.ok(task.resultMsg!.startsWith(failure.code + ": "), task.resultMsg);
          assert.ok(task.resultMsg!.length > failure.code.length + 10, "says what happened");
          assert.equal(tier.cloud.device(PRODUCT, deviceName).progress.at(-1)!.qos, 1);
          await device.down();
        });
      }

      it("reports fail -5 when the new image fails its self-test", async () => {
        const { deviceName, secret } = tier.newDevice();
        const old = await tier.boot(deviceName, secret, "1.0.0");
        deploy(deviceName);
        const offer = await old.agent.nthOffer(1);
        assert.equal(await download(old.backend, offer, { parts: [], bytes: 0 }), "verified");
        await old.backend.report({ offer, status: "updating" });
        await old.down();
        const fresh = await tier.boot(deviceName, secret, "2.0.0");
        await fresh.backend.report({ offer, status: "testing" });
        await fresh.backend.report({
          offer,
          status: "failed",
          failure: { code: "self-test-failed", message: "the cloud was not reachable within 60 s" },
        });
        const task = await tier.cloud.waitForFinal(PRODUCT, deviceName, 5000);
        assert.equal(task.status, "fail");
        assert.equal(task.resultCode, "-5");
        assert.equal(task.resultMsg, "self-test-failed: the cloud was not reachable within 60 s");
        await fresh.down();
      });

      it("after a rollback, the re-sent update_firmware is offered and its failure reported as -5", async () => {
        const { deviceName, secret } = tier.newDevice();
        const old = await tier.boot(deviceName, secret, "1.0.0");
        const task = deploy(deviceName);
        const offer = await old.agent.nthOffer(1);
        assert.equal(await download(old.backend, offer, { parts: [], bytes: 0 }), "verified");
        await old.backend.report({ offer, status: "updating" });
        await old.down();
        // The new image crashed before it could report; the bootloader went back to 1.0.0.
        const rolledBack = await tier.boot(deviceName, secret, "1.0.0");
        const again = await rolledBack.agent.nthOffer(1);
        assert.equal(again.version, offer.version);
        assert.equal(task.status, "burning");
        await rolledBack.backend.report({
          offer: again,
          status: "failed",
          failure: {
            code: "rolled-back",
            message: "2.0.0 never confirmed itself; 1.0.0 runs again",
          },
        });
        const final = await tier.cloud.waitForFinal(PRODUCT, deviceName, 5000);
        assert.equal(final.resultCode, "-5");
        assert.equal(
          final.resultMsg,
          "rolled-back: 2.0.0 never confirmed itself; 1.0.0 runs again",
        );
        await rolledBack.down();
        // A failed task is over: the next report_version brings no update_firmware.
        const later = await tier.boot(deviceName, secret, "1.0.0");
        await versionsReported(deviceName, 3);
        await sleep(200);
        assert.equal(later.agent.offers.length, 0);
        assert.equal(task.sent.length, 2);
        await later.down();
      });

      it("maps every failure code onto -1..-5 with the code and message in result_msg", async () => {
        const { deviceName, secret } = tier.newDevice();
        const device = await tier.boot(deviceName, secret, "1.0.0");
        const expected: Record<FailureCode, string> = {
          "offer-malformed": "-5",
          "offer-wrong-device": "-5",
          "offer-too-large": "-5",
          "offer-downgrade": "-5",
          "offer-unsupported": "-5",
          "offer-untrusted": "-5",
          "url-expired": "-3",
          "not-found": "-2",
          "http-status": "-5",
          "content-range": "-5",
          "body-short": "-1",
          "body-long": "-5",
          "redirect-loop": "-5",
          timeout: "-1",
          "too-slow": "-1",
          "budget-exceeded": "-1",
          "tls-untrusted": "-5",
          "http-protocol": "-5",
          network: "-1",
          "chunk-error": "-5",
          "retries-exhausted": "-1",
          "checksum-mismatch": "-4",
          "image-invalid": "-5",
          "image-mismatch": "-5",
          "signature-invalid": "-5",
          "delta-invalid": "-5",
          "delta-unsupported": "-5",
          "delta-base-mismatch": "-5",
          flash: "-5",
          "self-test-failed": "-5",
          "rolled-back": "-5",
          cancelled: "-5",
          internal: "-5",
        };
        const offer: Offer = {
          backend: "tencent",
          id: "3.0.0",
          version: "3.0.0",
          size: 1,
          source: { kind: "http", url: "http://127.0.0.1:1/x" },
          hashes: {},
          context: {},
        };
        const codes = Object.keys(expected) as FailureCode[];
        for (const code of codes) {
          const status = code.startsWith("offer-") ? "rejected" : "failed";
          await device.backend.report({
            offer,
            status,
            failure: { code, message: `what ${code} means` },
          });
        }
        const records = tier.cloud.device(PRODUCT, deviceName).progress;
        await tier.cloud.waitFor(() => records.length === codes.length, 5000, "all fail reports");
        records.forEach((record, i) => {
          assert.equal(record.state, "fail");
          assert.equal(record.resultCode, expected[codes[i]], codes[i]);
          assert.equal(record.resultMsg, `${codes[i]}: what ${codes[i]} means`);
          assert.deepEqual(record.problems, []);
        });
        await device.down();
      });

      it("puts downloading on the wire at most once per progressIntervalMs and only when the percent moves", async () => {
        let now = 0;
        const manual: Clock = { ...clock, now: () => now };
        const { deviceName, secret } = tier.newDevice();
        const device = await tier.boot(
          deviceName,
          secret,
          "1.0.0",
          { progressIntervalMs: 1000 },
          manual,
        );
        deploy(deviceName);
        const offer = { ...(await device.agent.nthOffer(1)), size: 1000 };
        const at = async (time: number, bytes: number) => {
          now = time;
          await device.backend.report({
            offer,
            status: "downloading",
            progress: { bytes, total: 1000 },
          });
        };
        await at(0, 0); // sent: the first
        await at(100, 100); // too soon
        await at(1000, 100); // sent
        await at(1500, 500); // too soon
        await at(2600, 509); // sent
        await at(4000, 509); // the same percent
        await device.backend.report({ offer, status: "downloaded" }); // always
        const records = tier.cloud.device(PRODUCT, deviceName).progress;
        await tier.cloud.waitFor(() => records.length >= 4, 5000, "4 progress reports");
        await sleep(100);
        assert.deepEqual(
          records.map((r) => [r.state, r.percent]),
          [
            ["downloading", "0"],
            ["downloading", "10"],
            ["downloading", "50"],
            ["downloading", "100"],
          ],
        );
        await device.down();
      });

      it("retries report_version with backoff while the platform answers a non-zero result_code", async () => {
        const { deviceName, secret } = tier.newDevice();
        tier.cloud.rejectVersionReports(2, 500, "service busy");
        const device = await tier.boot(deviceName, secret, "1.0.0");
        await versionsReported(deviceName, 3);
        await sleep(300);
        assert.equal(
          tier.cloud.device(PRODUCT, deviceName).versionReports.length,
          3,
          "no more once accepted",
        );
        const warnings = device.logger.lines
          .filter((l) => l.level === "warn")
          .map((l) => l.message);
        assert.equal(warnings.length, 2, warnings.join("\n"));
        for (const warning of warnings) assert.match(warning, /result_code 500, "service busy"/);
        assert.ok(device.logger.lines.some((l) => l.message.includes("version 1.0.0 reported")));
        await device.down();
      });

      it("after a reconnection: subscribes again, reports the version again and tells the agent", async () => {
        const { deviceName, secret } = tier.newDevice();
        const device = await tier.boot(deviceName, secret, "1.0.0");
        await versionsReported(deviceName, 1);
        assert.equal(device.agent.connections, 1);
        if (kind === "aedes") assert.ok(tier.cloud.disconnect(PRODUCT, deviceName));
        else await tier.mosquitto!.restart();
        await versionsReported(deviceName, 2);
        await device.agent.until(() => device.agent.connections === 2, 5000, "connected again");
        deploy(deviceName);
        assert.equal((await device.agent.nthOffer(1)).version, "2.0.0");
        await device.down();
      });

      it("answers an update to the running version with report_version, which ends the re-sending", async () => {
        const { deviceName, secret } = tier.newDevice();
        const device = await tier.boot(deviceName, secret, "2.0.0");
        await versionsReported(deviceName, 1);
        const task = deploy(deviceName);
        const offer = await device.agent.nthOffer(1);
        await device.backend.report({ offer, status: "current" });
        await versionsReported(deviceName, 2);
        assert.deepEqual(tier.cloud.device(PRODUCT, deviceName).versionReports, ["2.0.0", "2.0.0"]);
        await sleep(200);
        assert.equal(task.sent.length, 1);
        assert.equal(device.agent.offers.length, 1);
        await device.down();
      });

      it("answers a malformed update_firmware with fail -5 and offers nothing", async () => {
        const { deviceName, secret } = tier.newDevice();
        const device = await tier.boot(deviceName, secret, "1.0.0");
        deploy(deviceName, { md5: "not-an-md5" });
        const task = await tier.cloud.waitForFinal(PRODUCT, deviceName, 5000);
        assert.equal(task.resultCode, "-5");
        assert.match(task.resultMsg!, /^offer-malformed: md5sum is not 32 hex digits/);
        assert.equal(device.agent.offers.length, 0);
        await device.down();
      });

      it("refresh() gets a freshly signed URL by reporting the version again", async () => {
        const { deviceName, secret } = tier.newDevice();
        const device = await tier.boot(deviceName, secret, "1.0.0");
        const task = deploy(deviceName, { url: () => tier.fw.presign("fw.bin", 300) });
        const offer = await device.agent.nthOffer(1);
        await sleep(400); // the URL has expired meanwhile
        const url = (o: Offer) => (o.source.kind === "http" ? o.source.url : "");
        assert.equal((await fetch(url(offer))).status, 403);
        const fresh = await device.backend.refresh!(offer);
        assert.ok(fresh);
        assert.equal(fresh.version, offer.version);
        assert.notEqual(url(fresh), url(offer));
        assert.equal(task.sent.length, 2);
        assert.equal(device.agent.offers.length, 1, "a refreshed offer goes to refresh() only");
        assert.equal(await download(device.backend, fresh, { parts: [], bytes: 0 }), "verified");
        await device.down();
      });
    },
  );
}

for (const kind of ["aedes", "mosquitto"] as const) {
  it(
    `a certificate device gets its updates through ${kind} over TLS`,
    { skip: kind === "mosquitto" ? mosquittoSkip : undefined },
    async () => {
      const pki = makePki();
      const deviceName = "certdev";
      const mosquitto = kind === "mosquitto" ? await startMosquitto({ pki }) : undefined;
      const cloud = await startTencentCloud(
        mosquitto
          ? { brokerUrl: mosquitto.url, tls: { ca: pki.ca, ...pki.client("tencent-cloud") } }
          : {
              broker: { tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca } },
              devices: [{ productId: PRODUCT, deviceName, auth: "certificate" }],
            },
      );
      const config = { productId: PRODUCT, deviceName, currentVersion: "1.0.0" };
      const identity = mqttIdentity(config);
      assert.equal(identity.password, undefined);
      const mqtt = connectMqtt({
        url: cloud.brokerUrl,
        ca: pki.ca,
        ...pki.client(identity.clientId),
        ...identity,
      });
      try {
        await new Promise<void>((resolve) => mqtt.onConnect(() => resolve()));
        const agent = new TestAgent();
        const backend = createTencentBackend(config, {
          mqtt,
          clock,
          logger: new RecordingLogger(),
        });
        await backend.start(agent);
        await cloud.waitFor(
          () => cloud.device(PRODUCT, deviceName).version === "1.0.0",
          5000,
          "report_version",
        );
        if (kind === "aedes") assert.equal(cloud.connections.at(-1)!.accepted, true);
        cloud.deploy({
          productId: PRODUCT,
          deviceName,
          version: "2.0.0",
          url: "http://127.0.0.1/fw.bin",
          md5: "36eb5951179db14a631463a37a9322a2",
          size: 1000,
        });
        assert.equal((await agent.nthOffer(1)).version, "2.0.0");
        await backend.stop();
      } finally {
        await mqtt.close();
        await cloud.close();
        await mosquitto?.close();
      }
    },
  );
}
