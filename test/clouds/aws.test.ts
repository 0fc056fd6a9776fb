// The local AWS IoT Jobs against a device that speaks the MQTT API by hand (mqtt.js), through the
// embedded broker and through mosquitto: statuses, versions, rejected codes, notifications,
// cancel, timeouts and presigned URLs, as protocols-and-peers.md section 1 describes the service.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mqtt from "mqtt";
import { startAwsCloud, type AwsCloud } from "../../tools/clouds/aws/index";
import { startEmbeddedBroker } from "../../tools/broker/index";
import { mosquittoSkip, startMosquitto } from "../support/mosquitto";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- replies, read field by field in assertions
type Json = any;

interface Received {
  topic: string;
  payload: Record<string, unknown>;
}

/** A device that publishes Jobs requests itself and keeps every message it receives. */
async function rawDevice(url: string, thing: string) {
  const client = mqtt.connect(url, { clientId: thing + "-raw", clean: true, reconnectPeriod: 200 });
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("error", reject);
  });
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  client.on("message", (topic, payload) => {
    // The device's own requests come back through the # filter, malformed ones included.
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(payload.toString());
    } catch {
      return;
    }
    received.push({ topic, payload: parsed });
    for (const w of waiters.splice(0)) w();
  });
  await client.subscribeAsync(`$aws/things/${thing}/jobs/#`, { qos: 1 });
  let counter = 0;
  const prefix = `$aws/things/${thing}/jobs/`;
  const waitFor = (probe: (m: Received) => boolean, what: string, from = 0): Promise<Received> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within 5 s`)), 5000);
      const check = () => {
        const found = received.slice(from).find(probe);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else waiters.push(check);
      };
      check();
    });
  return {
    received,
    /** Publishes a request and resolves with its reply. */
    async call(suffix: string, body: Record<string, unknown> = {}) {
      const clientToken = `t${++counter}`;
      await client.publishAsync(prefix + suffix, JSON.stringify({ ...body, clientToken }), {
        qos: 1,
      });
      const reply = await waitFor(
        (m) => m.payload.clientToken === clientToken && m.topic.startsWith(prefix + suffix + "/"),
        `reply to ${suffix}`,
      );
      return { accepted: reply.topic.endsWith("/accepted"), ...reply.payload } as Json;
    },
    async raw(suffix: string, text: string) {
      const from = received.length;
      await client.publishAsync(prefix + suffix, text, { qos: 1 });
      return waitFor(
        (m) => m.topic === prefix + suffix + "/rejected",
        `rejection on ${suffix}`,
        from,
      );
    },
    /** The notify-next messages so far. */
    nexts: () => received.filter((m) => m.topic === prefix + "notify-next").map((m) => m.payload),
    waitFor,
    nextCount: (n: number) =>
      waitFor(
        () => received.filter((m) => m.topic === prefix + "notify-next").length >= n,
        `${n} notify-next`,
      ),
    close: () => client.endAsync(),
  };
}

const doc = { url: "https://fw.example/a.bin", size: 10, version: "1.1.0", md5: "0".repeat(32) };

for (const kind of ["aedes", "mosquitto"] as const) {
  describe(
    `local AWS IoT Jobs through ${kind}`,
    { skip: kind === "mosquitto" ? mosquittoSkip : undefined },
    () => {
      let broker: { url: string; close(): Promise<void> };
      let cloud: AwsCloud;
      const issued: string[] = [];
      let thingCount = 0;
      const thing = () => `${kind}-dev-${++thingCount}`;

      before(async () => {
        broker = kind === "aedes" ? await startEmbeddedBroker() : await startMosquitto();
        cloud = await startAwsCloud({
          brokerUrl: broker.url,
          minuteMs: 300,
          presign: (url, ttlMs) => {
            const signed = `${url}?token=${issued.length}&ttl=${ttlMs}`;
            issued.push(signed);
            return signed;
          },
        });
      });
      after(async () => {
        await cloud.close();
        await broker.close();
      });

      it("queues a job, names it in notify-next, and answers get, $next/get, start-next and describe", async () => {
        const name = thing();
        const device = await rawDevice(broker.url, name);
        const jobId = await cloud.deploy({ thingName: name, jobId: "fw-1", document: doc });
        const next = await device.waitFor((m) => m.topic.endsWith("/notify-next"), "notify-next");
        const execution = next.payload.execution as Json;
        assert.equal(execution.jobId, jobId);
        assert.equal(execution.thingName, name);
        assert.equal(execution.status, "QUEUED");
        assert.equal(execution.versionNumber, 1);
        assert.deepEqual(execution.jobDocument, doc);
        const notify = await device.waitFor((m) => m.topic.endsWith("/jobs/notify"), "notify");
        assert.equal((notify.payload.jobs as Json).QUEUED[0].jobId, jobId);

        const pending = await device.call("get");
        assert.equal(pending.accepted, true);
        assert.deepEqual(
          pending.queuedJobs.map((j: Json) => j.jobId),
          [jobId],
        );
        assert.deepEqual(pending.inProgressJobs, []);
        const viaNext = await device.call("$next/get");
        assert.equal(viaNext.execution.jobId, jobId);
        const started = await device.call("start-next", { statusDetails: { step: "one" } });
        assert.equal(started.execution.status, "IN_PROGRESS");
        assert.equal(started.execution.versionNumber, 2);
        assert.deepEqual(started.execution.statusDetails, { step: "one" });
        const described = await device.call(`${jobId}/get`, { includeJobDocument: false });
        assert.equal(described.execution.status, "IN_PROGRESS");
        assert.equal(described.execution.jobDocument, undefined);
        assert.equal((await device.call("start-next")).execution.jobId, jobId, "IN_PROGRESS first");
        await device.close();
      });

      it("applies expectedVersion, statusDetails limits and the legal transitions", async () => {
        const name = thing();
        const device = await rawDevice(broker.url, name);
        const jobId = await cloud.deploy({ thingName: name, document: doc });
        const update = (body: Record<string, unknown>) => device.call(`${jobId}/update`, body);

        const stale = await update({ status: "IN_PROGRESS", expectedVersion: 5 });
        assert.equal(stale.code, "VersionMismatch");
        assert.deepEqual(stale.executionState, {
          status: "QUEUED",
          statusDetails: {},
          versionNumber: 1,
        });
        const first = await update({
          status: "IN_PROGRESS",
          expectedVersion: "1",
          statusDetails: { progress: "1/9" },
          includeJobExecutionState: true,
        });
        assert.equal(first.accepted, true);
        assert.deepEqual(first.executionState, {
          status: "IN_PROGRESS",
          statusDetails: { progress: "1/9" },
          versionNumber: 2,
        });
        const invalid: [Record<string, unknown>, RegExp][] = [
          [{ status: "DONE" }, /status must be one of/],
          [{ status: "IN_PROGRESS", statusDetails: { a: "" } }, /1-1024/],
          [{ status: "IN_PROGRESS", statusDetails: { a: "x".repeat(1025) } }, /1-1024/],
          [{ status: "IN_PROGRESS", statusDetails: { a: "x\ny" } }, /control/],
          [{ status: "IN_PROGRESS", statusDetails: { "a b": "x" } }, /key/],
          [{ status: "IN_PROGRESS", statusDetails: { a: 1 } }, /not a string/],
          [
            {
              status: "IN_PROGRESS",
              statusDetails: Object.fromEntries(
                Array.from({ length: 11 }, (_, i) => [`k${i}`, "v"]),
              ),
            },
            /11 pairs/,
          ],
          [{ status: "IN_PROGRESS", stepTimeoutInMinutes: 0 }, /stepTimeoutInMinutes/],
        ];
        for (const [body, message] of invalid) {
          const reply = await update(body);
          assert.equal(reply.code, "InvalidRequest", JSON.stringify(body));
          assert.match(reply.message, message);
        }
        const late = await update({ status: "REJECTED", statusDetails: { reason: "too late" } });
        assert.equal(late.code, "InvalidStateTransition");
        assert.equal(late.executionState.status, "IN_PROGRESS");
        const done = await update({ status: "SUCCEEDED", expectedVersion: 2 });
        assert.equal(done.accepted, true);
        const none = await device.waitFor(
          (m) => m.topic.endsWith("/notify-next") && !("execution" in m.payload),
          "notify-next without execution",
        );
        assert.equal(typeof none.payload.timestamp, "number");
        assert.equal(cloud.execution(name, jobId)?.versionNumber, 3);
        assert.deepEqual(cloud.execution(name, jobId)?.statusDetails, { progress: "1/9" });
        assert.equal(cloud.jobStatus(jobId), "COMPLETED");

        const again = await update({ status: "FAILED" });
        assert.equal(again.code, "InvalidStateTransition");
        assert.equal(again.executionState.status, "SUCCEEDED");
        assert.equal((await device.call(`${jobId}/get`)).code, "TerminalStateReached");
        assert.equal(
          (await device.call("nope/update", { status: "FAILED" })).code,
          "ResourceNotFound",
        );
        assert.equal((await device.call("$next/get")).execution, undefined);
        assert.equal(
          (await device.raw(`${jobId}/update`, "{not json")).payload.code,
          "InvalidJson",
        );
        assert.equal((await device.raw("whatever/this/is", "{}")).payload.code, "InvalidTopic");
        const outcomes = cloud.updates.filter((u) => u.jobId === jobId).map((u) => u.outcome);
        assert.deepEqual(outcomes.slice(0, 2), ["VersionMismatch", "accepted"]);
        await device.close();
      });

      it("moves notify-next to the next job, and cancels QUEUED executions but IN_PROGRESS ones only with force", async () => {
        const name = thing();
        const device = await rawDevice(broker.url, name);
        const a = await cloud.deploy({ thingName: name, document: doc });
        const b = await cloud.deploy({ thingName: name, document: { operation: "custom" } });
        await device.nextCount(1);
        assert.equal(device.nexts().length, 1, "a second QUEUED job does not change what is next");
        assert.equal((await device.call(`${a}/update`, { status: "IN_PROGRESS" })).accepted, true);

        await cloud.cancel(a);
        assert.equal(
          cloud.execution(name, a)?.status,
          "IN_PROGRESS",
          "a plain cancel leaves it running",
        );
        await assert.rejects(cloud.cancel(a, { thingName: name }), /force needed/);
        await cloud.cancel(a, { thingName: name, force: true });
        assert.equal(cloud.execution(name, a)?.status, "CANCELED");
        assert.equal(cloud.execution(name, a)?.forceCanceled, true);
        await device.nextCount(2);
        assert.equal((device.nexts()[1].execution as Json).jobId, b);
        const refused = await device.call(`${a}/update`, { status: "SUCCEEDED" });
        assert.equal(refused.code, "InvalidStateTransition");
        assert.equal(refused.executionState.status, "CANCELED");

        await cloud.cancel(b);
        assert.equal(cloud.execution(name, b)?.status, "CANCELED");
        await device.nextCount(3);
        assert.equal(device.nexts()[2].execution, undefined);
        await device.close();
      });

      it("times an execution out after its step timeout unless IN_PROGRESS renews it", async () => {
        const name = thing();
        const device = await rawDevice(broker.url, name);
        const jobId = await cloud.deploy({ thingName: name, document: doc });
        const update = (body: Record<string, unknown>) => device.call(`${jobId}/update`, body);
        assert.equal(
          (await update({ status: "IN_PROGRESS", stepTimeoutInMinutes: 1 })).accepted,
          true,
        );
        for (let i = 0; i < 4; i++) {
          await new Promise((r) => setTimeout(r, 150));
          assert.equal(
            (await update({ status: "IN_PROGRESS", stepTimeoutInMinutes: 1 })).accepted,
            true,
          );
        }
        assert.equal(cloud.execution(name, jobId)?.status, "IN_PROGRESS", "renewed for 600 ms");
        await cloud.waitForStatus(name, jobId, "TIMED_OUT", 2000);
        assert.equal((await update({ status: "SUCCEEDED" })).code, "InvalidStateTransition");

        const other = await cloud.deploy({
          thingName: name,
          document: doc,
          inProgressTimeoutMinutes: 1,
        });
        assert.equal(
          (await device.call(`${other}/update`, { status: "IN_PROGRESS" })).accepted,
          true,
        );
        await cloud.waitForStatus(name, other, "TIMED_OUT", 2000);
        await device.close();
      });

      it("expands presigned-URL templates afresh in every delivery", async () => {
        const name = thing();
        const device = await rawDevice(broker.url, name);
        const jobId = await cloud.deploy({
          thingName: name,
          document: { ...doc, url: "${aws:iot:s3-presigned-url:https://fw.example/a.bin}" },
          presignTtlMs: 1234,
        });
        const first = await device.call(`${jobId}/get`);
        const second = await device.call(`${jobId}/get`);
        assert.match(
          first.execution.jobDocument.url,
          /^https:\/\/fw\.example\/a\.bin\?token=\d+&ttl=1234$/,
        );
        assert.notEqual(first.execution.jobDocument.url, second.execution.jobDocument.url);
        assert.ok(issued.includes(second.execution.jobDocument.url));
        await device.close();
      });
    },
  );
}
