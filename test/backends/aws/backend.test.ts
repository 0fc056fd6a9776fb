// The AWS IoT Jobs backend against the local cloud, through the embedded broker and through
// mosquitto, both with TLS client certificates. A test listener stands in for the agent: it records
// offers and cancels and sends the reports the agent would, and a reboot is a new backend on a new
// connection, reporting on the offer as it was persisted.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createNodeHttpClient } from "../../../hosts/node/http";
import { nodeClock } from "../../../hosts/node/clock";
import { MAX_DETAIL_LENGTH } from "../../../src/backends/aws/index";
import { httpSource } from "../../../src/core/download/http-source";
import type { OtaError } from "../../../src/core/errors";
import type { Offer } from "../../../src/core/offer";
import { firmwareJobDocument, type FirmwareForm } from "../../../tools/clouds/aws/index";
import { mosquittoSkip } from "../../support/mosquitto";
import { MINUTE_MS, persisted, sleep, startEnv, until, type BrokerKind, type Env } from "./harness";

function urlOf(offer: Offer): string {
  assert.equal(offer.source.kind, "http");
  return (offer.source as { url: string }).url;
}

for (const kind of ["aedes", "mosquitto"] as BrokerKind[]) {
  describe(
    `AWS backend through ${kind}`,
    { skip: kind === "mosquitto" ? mosquittoSkip : undefined },
    () => {
      let env: Env;
      let things = 0;
      const thing = () => `${kind}-thing-${++things}`;
      const plain = (version = "1.1.0") =>
        firmwareJobDocument("plain", {
          url: env.imageUrl,
          size: env.image.length,
          version,
          sha256: env.sha256,
        });
      const updatesOf = (jobId: string) => env.cloud.updates.filter((u) => u.jobId === jobId);
      /** Accepted updates as "STATUS:state", state being the report status in statusDetails. */
      const statusesOf = (jobId: string) =>
        updatesOf(jobId)
          .filter((u) => u.outcome === "accepted")
          .map((u) => {
            const state = (u.request.statusDetails as Record<string, string> | undefined)?.state;
            return state ? `${u.request.status}:${state}` : String(u.request.status);
          });

      before(async () => {
        env = await startEnv(kind);
      });
      after(() => env.close());

      it("takes a job from notify-next, reports IN_PROGRESS, and SUCCEEDED only from the new image after the reboot", async () => {
        const name = thing();
        const device = await env.device(name, { progressIntervalMs: 300 });
        const jobId = await env.cloud.deploy({ thingName: name, document: plain() });
        const offer = await device.listener.nthOffer(0);
        assert.equal(offer.id, jobId);
        assert.equal(offer.backend, "aws");
        assert.equal(offer.version, "1.1.0");
        assert.equal(offer.size, env.image.length);
        assert.equal(urlOf(offer), env.imageUrl);
        assert.deepEqual(offer.hashes, { sha256: env.sha256 });
        assert.equal(offer.context.jobVersion, 1);
        assert.ok(JSON.stringify(offer).length < 4000);
        assert.equal(
          env.cloud.execution(name, jobId)?.status,
          "QUEUED",
          "an offer alone changes nothing",
        );

        const total = env.image.length;
        await device.backend.report({
          offer,
          status: "downloading",
          progress: { bytes: 0, total },
          previousVersion: "1.0.0",
        });
        assert.equal(env.cloud.execution(name, jobId)?.status, "IN_PROGRESS");
        assert.deepEqual(env.cloud.execution(name, jobId)?.statusDetails, {
          state: "downloading",
          version: "1.1.0",
          updatedBy: "1.0.0",
          progress: `0/${total}`,
        });
        // The agent reports as often as every second; the backend puts fewer on the wire.
        const sentBefore = updatesOf(jobId).length;
        const started = Date.now();
        const progress = [];
        for (let i = 1; i <= 20; i++) {
          progress.push(
            device.backend.report({
              offer,
              status: "downloading",
              progress: { bytes: (i * total) / 40, total },
              previousVersion: "1.0.0",
            }),
          );
          await sleep(25);
        }
        await Promise.all(progress);
        const progressSent = updatesOf(jobId).length - sentBefore;
        // At most one per progressIntervalMs (200 ms here) of the time the reports took: 500 ms
        // on an idle machine, more on a loaded one.
        const elapsed = Date.now() - started;
        assert.ok(
          progressSent >= 1 && progressSent <= Math.ceil(elapsed / 200) + 1,
          `${progressSent} progress updates for 20 reports in ${elapsed} ms`,
        );

        for (const status of ["downloaded", "verified", "updating"] as const)
          await device.backend.report({ offer, status, previousVersion: "1.0.0" });
        const staged = env.cloud.execution(name, jobId)!;
        assert.equal(staged.status, "IN_PROGRESS");
        assert.equal(staged.statusDetails.self_test, "ready");
        assert.equal(staged.statusDetails.updatedBy, "1.0.0");

        // Reboot into the new image: a new backend, and the offer as the agent persisted it.
        await device.shutdown();
        const rebooted = await env.device(name);
        const again = await rebooted.listener.nthOffer(0);
        assert.equal(again.id, jobId);
        assert.equal(again.version, "1.1.0");
        assert.equal(
          again.context.updatedBy,
          "1.0.0",
          "statusDetails tell the new image what it replaced",
        );
        const saved = persisted(offer);
        await rebooted.backend.report({
          offer: saved,
          status: "testing",
          previousVersion: "1.0.0",
        });
        assert.equal(env.cloud.execution(name, jobId)?.statusDetails.self_test, "active");
        assert.equal(env.cloud.execution(name, jobId)?.status, "IN_PROGRESS");
        await rebooted.backend.report({
          offer: saved,
          status: "succeeded",
          previousVersion: "1.0.0",
        });
        const done = env.cloud.execution(name, jobId)!;
        assert.equal(done.status, "SUCCEEDED");
        assert.equal(done.statusDetails.reason, "accepted 1.1.0");
        assert.deepEqual(statusesOf(jobId).slice(-3), [
          "IN_PROGRESS:updating",
          "IN_PROGRESS:testing",
          "SUCCEEDED:succeeded",
        ]);
        assert.equal(statusesOf(jobId).filter((s) => s.startsWith("SUCCEEDED")).length, 1);
      });

      it("takes a queued job from $next/get, reads the four document forms, and gives a custom job to onJob", async () => {
        const name = thing();
        const forms: FirmwareForm[] = ["plain", "nrf", "zerynth", "afr_ota"];
        const ids: string[] = [];
        for (const form of forms)
          ids.push(
            await env.cloud.deploy({
              thingName: name,
              document: firmwareJobDocument(form, {
                url: env.imageUrl,
                size: env.image.length,
                version: "2.0.0",
                md5: env.md5,
                sha256: env.sha256,
                signature: "MEUCIQD1c2lnbmF0dXJl",
                presigned: form === "afr_ota",
              }),
            }),
          );
        const custom = await env.cloud.deploy({
          thingName: name,
          document: { operation: "rotate-logs", keep: 3 },
        });
        const seen: unknown[] = [];
        const device = await env.device(name, {
          onJob: async (job) => {
            seen.push(job.document);
            assert.equal(job.status, "QUEUED");
            await job.progress({ step: "rotating" });
            const details: Record<string, string> = { empty: "", bad: "\u0000" };
            for (let i = 0; i < 12; i++) details[`k${i}`] = "v".repeat(2000);
            return { status: "succeeded", statusDetails: details };
          },
        });
        for (let i = 0; i < forms.length; i++) {
          const offer = await device.listener.nthOffer(i);
          assert.equal(offer.id, ids[i], forms[i]);
          assert.equal(offer.context.format, forms[i]);
          assert.equal(offer.size, env.image.length);
          assert.equal(offer.version, "2.0.0");
          if (forms[i] === "afr_ota") {
            assert.match(
              urlOf(offer),
              /\/app\.bin\?token=[0-9a-f]+$/,
              "the presigned template is expanded",
            );
            assert.deepEqual(offer.signature, {
              algorithm: "ecdsa-p256-sha256",
              value: "MEUCIQD1c2lnbmF0dXJl",
              certificate: "code-signer.crt",
            });
          } else assert.equal(urlOf(offer), env.imageUrl);
          if (forms[i] === "zerynth") assert.deepEqual(offer.hashes, { md5: env.md5 });
          // The device runs it already: the job is done.
          await device.backend.report({ offer, status: "current", previousVersion: "2.0.0" });
          const execution = env.cloud.execution(name, ids[i])!;
          assert.equal(execution.status, "SUCCEEDED");
          assert.equal(execution.statusDetails.reason, "already running 2.0.0");
        }
        const finished = await env.cloud.waitForStatus(name, custom, "SUCCEEDED", 5000);
        assert.deepEqual(seen, [{ operation: "rotate-logs", keep: 3 }]);
        assert.equal(Object.keys(finished.statusDetails).length, 10);
        assert.equal(finished.statusDetails.k0.length, MAX_DETAIL_LENGTH);
        assert.deepEqual(statusesOf(custom), ["IN_PROGRESS", "SUCCEEDED"]);
        assert.equal(device.listener.jobs().length, forms.length, "the custom job is no offer");
        assert.equal(
          env.cloud.history.filter(
            (h) => h.direction === "in" && h.topic.endsWith(`${name}/jobs/$next/get`),
          ).length,
          1,
          "one $next/get at start; the rest came from notify-next",
        );
      });

      it("REJECTS what is refused before it starts, itself when the document is unusable", async () => {
        const name = thing();
        const device = await env.device(name);
        const refused = await env.cloud.deploy({ thingName: name, document: plain("0.9.0") });
        const offer = await device.listener.nthOffer(0);
        await device.backend.report({
          offer,
          status: "rejected",
          failure: {
            code: "offer-downgrade",
            message: "version 0.9.0 is lower than the running 1.0.0",
          },
        });
        const rejected = env.cloud.execution(name, refused)!;
        assert.equal(rejected.status, "REJECTED");
        assert.equal(
          rejected.statusDetails.reason,
          "offer-downgrade: version 0.9.0 is lower than the running 1.0.0",
        );

        const malformed = await env.cloud.deploy({
          thingName: name,
          document: { ...plain(), size: "big" },
        });
        const mqttOnly = await env.cloud.deploy({
          thingName: name,
          document: {
            afr_ota: {
              protocols: ["MQTT"],
              streamname: "s1",
              files: [{ filesize: 10, fileid: 0 }],
            },
          },
        });
        const custom = await env.cloud.deploy({
          thingName: name,
          document: { operation: "reboot" },
        });
        const a = await env.cloud.waitForStatus(name, malformed, "REJECTED");
        assert.match(
          a.statusDetails.reason,
          /^offer-malformed: job document: "size" must be a whole number of bytes/,
        );
        const b = await env.cloud.waitForStatus(name, mqttOnly, "REJECTED");
        assert.match(
          b.statusDetails.reason,
          /^offer-unsupported: .*MQTT streams are not supported/,
        );
        const c = await env.cloud.waitForStatus(name, custom, "REJECTED");
        assert.match(c.statusDetails.reason, /no job handler/);
        assert.equal(device.listener.jobs().length, 1);

        // Once started, a refusal can only be FAILED.
        const started = await env.cloud.deploy({ thingName: name, document: plain() });
        const next = await device.listener.nthOffer(1);
        await device.backend.report({
          offer: next,
          status: "downloading",
          progress: { bytes: 0, total: next.size },
        });
        await device.backend.report({
          offer: next,
          status: "rejected",
          failure: { code: "image-mismatch", message: "wrong project" },
        });
        assert.equal(env.cloud.execution(name, started)?.status, "FAILED");
        assert.equal(
          env.cloud.execution(name, started)?.statusDetails.reason,
          "image-mismatch: wrong project",
        );
      });

      it("resynchronises expectedVersion after a VersionMismatch and matches replies by clientToken", async () => {
        const name = thing();
        const device = await env.device(name);
        const jobId = await env.cloud.deploy({ thingName: name, document: plain() });
        const offer = await device.listener.nthOffer(0);
        await device.backend.report({
          offer,
          status: "downloading",
          progress: { bytes: 0, total: offer.size },
        });
        const rogue = await env.rogue(`${name}-console`);
        const topic = `$aws/things/${name}/jobs/${jobId}/update`;
        // Somebody else moves the execution's version on.
        await rogue.publishAsync(
          topic,
          JSON.stringify({ status: "IN_PROGRESS", statusDetails: { by: "console" } }),
          { qos: 1 },
        );
        await until(
          () => env.cloud.execution(name, jobId)?.statusDetails.by,
          "the console's update",
        );
        // And answers the device's next update with a rejection that is not the service's.
        await rogue.subscribeAsync(topic, { qos: 1 });
        rogue.on("message", (t) => {
          if (t !== topic) return;
          const fake = { code: "InvalidRequest", message: "fake", clientToken: "not-yours" };
          void rogue.publishAsync(topic + "/rejected", JSON.stringify(fake), { qos: 1 });
          void rogue.publishAsync(topic + "/rejected", JSON.stringify({ code: "InvalidRequest" }), {
            qos: 1,
          });
        });
        await device.backend.report({ offer, status: "downloaded" });
        const execution = env.cloud.execution(name, jobId)!;
        assert.equal(execution.statusDetails.state, "downloaded");
        assert.deepEqual(
          updatesOf(jobId)
            .map((u) => u.outcome)
            .slice(-2),
          ["VersionMismatch", "accepted"],
        );
        await device.backend.report({ offer, status: "verified" });
        assert.equal(env.cloud.execution(name, jobId)?.statusDetails.state, "verified");
        assert.equal(updatesOf(jobId).at(-1)?.outcome, "accepted");

        // A notify-next about another thing's execution, on this thing's topic, is not acted on.
        await rogue.publishAsync(
          `$aws/things/${name}/jobs/notify-next`,
          JSON.stringify({
            timestamp: 1,
            execution: { jobId: "other-job", thingName: "someone-else", jobDocument: plain() },
          }),
          { qos: 1 },
        );
        await sleep(200);
        assert.equal(device.listener.jobs().length, 1);
        assert.equal(device.listener.cancels.length, 0);
      });

      it("cancels the download when notify-next drops the job or names another one", async () => {
        const name = thing();
        const device = await env.device(name);
        const first = await env.cloud.deploy({ thingName: name, document: plain() });
        const offer = await device.listener.nthOffer(0);
        await device.backend.report({
          offer,
          status: "downloading",
          progress: { bytes: 0, total: offer.size },
        });
        await env.cloud.cancel(first);
        await sleep(100);
        assert.equal(
          device.listener.cancels.length,
          0,
          "a plain cancel leaves an IN_PROGRESS execution running",
        );
        await env.cloud.cancel(first, { force: true });
        const cancel = await device.listener.cancelOf(first);
        assert.match(cancel.reason, /no job is pending/);
        // The agent's own "cancelled" needs no message: the service knows.
        const before = updatesOf(first).length;
        await device.backend.report({
          offer,
          status: "failed",
          failure: { code: "cancelled", message: "cancelled" },
        });
        await assert.rejects(
          device.backend.report({ offer, status: "downloaded" }),
          (e: OtaError) => e.code === "cancelled",
        );
        assert.equal(updatesOf(first).length, before);

        const second = await env.cloud.deploy({ thingName: name, document: plain() });
        const offer2 = await device.listener.nthOffer(1);
        assert.equal(offer2.id, second);
        await device.backend.report({
          offer: offer2,
          status: "downloading",
          progress: { bytes: 0, total: offer2.size },
        });
        const third = await env.cloud.deploy({ thingName: name, document: plain("1.2.0") });
        await env.cloud.cancel(second, { force: true });
        assert.match(
          (await device.listener.cancelOf(second)).reason,
          new RegExp(`job ${third} is next`),
        );
        const offer3 = await device.listener.nthOffer(2);
        assert.equal(offer3.id, third);
        // A QUEUED job cancelled before the agent started it.
        await env.cloud.cancel(third);
        await device.listener.cancelOf(third);
      });

      it("treats an update refused after a force-cancel it was not told about as a cancel", async () => {
        const name = thing();
        const device = await env.device(name);
        const jobId = await env.cloud.deploy({ thingName: name, document: plain() });
        const offer = await device.listener.nthOffer(0);
        await device.backend.report({
          offer,
          status: "downloading",
          progress: { bytes: 0, total: offer.size },
        });
        await env.cloud.cancel(jobId, { force: true, silent: true });
        await assert.rejects(
          device.backend.report({ offer, status: "downloaded" }),
          (e: OtaError) => e.code === "cancelled" && /CANCELED/.test(e.message),
        );
        assert.match((await device.listener.cancelOf(jobId)).reason, /CANCELED/);
        // The cancel moved the execution's version on: the stale update meets VersionMismatch,
        // whose executionState says CANCELED.
        assert.equal(updatesOf(jobId).at(-1)?.outcome, "VersionMismatch");
      });

      it("retries an update the service could not take, and rejects one it refuses for good", async () => {
        const name = thing();
        const device = await env.device(name);
        const jobId = await env.cloud.deploy({ thingName: name, document: plain() });
        const offer = await device.listener.nthOffer(0);
        await device.backend.report({
          offer,
          status: "downloading",
          progress: { bytes: 0, total: offer.size },
        });
        env.cloud.rejectNext("RequestThrottled", { api: "update" });
        await device.backend.report({ offer, status: "downloaded" });
        assert.deepEqual(
          updatesOf(jobId)
            .slice(-2)
            .map((u) => u.outcome),
          ["RequestThrottled", "accepted"],
        );
        env.cloud.rejectNext("InvalidRequest", { api: "update" });
        await assert.rejects(
          device.backend.report({ offer, status: "verified" }),
          (e: OtaError) => e.code === "internal" && /InvalidRequest/.test(e.message),
        );
        assert.equal(env.cloud.execution(name, jobId)?.statusDetails.state, "downloaded");
        assert.equal(device.listener.cancels.length, 0);
        await device.backend.report({ offer, status: "verified" });
        assert.equal(env.cloud.execution(name, jobId)?.statusDetails.state, "verified");
      });

      it("keeps the step timer alive during a long download, and hears of a timeout", async () => {
        const name = thing();
        const device = await env.device(name, {
          stepTimeoutMinutes: 1,
          // A refresh every quarter of the step timeout: slack for a loaded machine.
          stepRefreshMs: MINUTE_MS / 4,
        });
        const jobId = await env.cloud.deploy({ thingName: name, document: plain() });
        const offer = await device.listener.nthOffer(0);
        await device.backend.report({
          offer,
          status: "downloading",
          progress: { bytes: 0, total: offer.size },
        });
        assert.equal(updatesOf(jobId).at(-1)?.request.stepTimeoutInMinutes, 1);
        await sleep(MINUTE_MS * 3);
        assert.equal(
          env.cloud.execution(name, jobId)?.status,
          "IN_PROGRESS",
          "three step timeouts later",
        );
        assert.ok(updatesOf(jobId).length >= 5, `${updatesOf(jobId).length} updates`);
        // Verified: the download is over and nothing refreshes the timer any more.
        await device.backend.report({ offer, status: "verified" });
        await env.cloud.waitForStatus(name, jobId, "TIMED_OUT", MINUTE_MS * 4);
        assert.match((await device.listener.cancelOf(jobId)).reason, /no job is pending/);
      });

      it("fetches the job document again when the presigned URL has expired", async () => {
        const name = thing();
        const device = await env.device(name);
        await env.cloud.deploy({
          thingName: name,
          document: firmwareJobDocument("plain", {
            url: env.imageUrl,
            size: env.image.length,
            version: "1.1.0",
            sha256: env.sha256,
            presigned: true,
          }),
          presignTtlMs: 400,
        });
        const offer = await device.listener.nthOffer(0);
        const http = createNodeHttpClient();
        const source = (o: Offer) =>
          httpSource({
            http,
            clock: nodeClock,
            url: urlOf(o),
            expectedSize: o.size,
            readTimeoutMs: 5000,
          });
        const parts: Uint8Array[] = [];
        const stream = await source(offer).open(0);
        let received = 0;
        while (received < 64 * 1024) {
          const chunk = await stream.read();
          assert.ok(chunk, `the image ended after ${received} bytes`);
          parts.push(chunk.slice());
          received += chunk.length;
        }
        stream.close();
        await sleep(500);
        await assert.rejects(
          source(offer).open(received),
          (e: OtaError) => e.code === "url-expired",
        );
        const fresh = await device.backend.refresh(offer);
        assert.ok(fresh);
        assert.equal(fresh.id, offer.id);
        assert.notEqual(urlOf(fresh), urlOf(offer));
        const rest = await source(fresh).open(received);
        assert.equal(rest.offset, received);
        for (let chunk = await rest.read(); chunk !== null; chunk = await rest.read())
          parts.push(chunk.slice());
        assert.deepEqual(Buffer.concat(parts), Buffer.from(env.image));
        // The server records a status when its response closes, which may come after the last byte.
        const resumed = () =>
          env.fw.requests.some((r) => r.range === `bytes=${received}-` && r.status === 206);
        for (let i = 0; i < 100 && !resumed(); i++) await sleep(20);
        assert.ok(
          env.fw.requests.some((r) => r.status === 403),
          "the expired URL was answered 403",
        );
        assert.ok(resumed(), `the request for bytes=${received}- was answered 206`);
      });

      it("reports FAILED with the reason from the old image after a rollback", async () => {
        const name = thing();
        const device = await env.device(name);
        const jobId = await env.cloud.deploy({ thingName: name, document: plain() });
        const offer = await device.listener.nthOffer(0);
        for (const status of ["downloading", "downloaded", "verified", "updating"] as const)
          await device.backend.report({ offer, status, previousVersion: "1.0.0" });
        await device.shutdown();
        // The new image failed its self-test; the old one boots and reports before the service
        // names the job again, with the version persisted at offer time.
        const old = await env.device(name);
        const message = "self-test of 1.1.0 failed: no\nnetwork\u0000" + "!".repeat(2000);
        await old.backend.report({
          offer: persisted(offer),
          status: "failed",
          previousVersion: "1.0.0",
          failure: { code: "self-test-failed", message },
        });
        const failed = env.cloud.execution(name, jobId)!;
        assert.equal(failed.status, "FAILED");
        assert.equal(failed.statusDetails.reason.length, MAX_DETAIL_LENGTH);
        assert.match(
          failed.statusDetails.reason,
          /^self-test-failed: self-test of 1\.1\.0 failed: no network !+\.\.\.$/,
        );
        assert.equal(failed.statusDetails.updatedBy, "1.0.0");
      });

      it(
        "finishes an update across a broker restart",
        { skip: kind === "aedes" ? "the embedded broker is not restarted in place" : undefined },
        async () => {
          const name = thing();
          const device = await env.device(name);
          const jobId = await env.cloud.deploy({ thingName: name, document: plain() });
          const offer = await device.listener.nthOffer(0);
          await device.backend.report({
            offer,
            status: "downloading",
            progress: { bytes: 0, total: offer.size },
          });
          const restart = env.restartBroker!();
          const report = device.backend.report({ offer, status: "downloaded" });
          await restart;
          await report;
          assert.equal(env.cloud.execution(name, jobId)?.statusDetails.state, "downloaded");
          await until(() => device.listener.connections >= 2, "reconnection");
          await device.backend.report({ offer, status: "verified" });
          assert.equal(env.cloud.execution(name, jobId)?.statusDetails.state, "verified");
          await until(
            () =>
              env.cloud.history.filter(
                (h) => h.direction === "in" && h.topic.endsWith(`${name}/jobs/$next/get`),
              ).length >= 2,
            "$next/get again after the reconnection",
          );
        },
      );
    },
  );
}
