// The ThingsBoard backend against the local ThingsBoard, through the cloud's own MQTT server and
// through mosquitto: discovery, the chunk window, failures, reconnects, reports.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { OtaError } from "../../../src/core/errors";
import { makePki } from "../../support/certs";
import { matchDigest } from "../../../src/core/hash/index";
import type { Offer } from "../../../src/core/offer";
import {
  TIERS,
  TITLE,
  TOKEN,
  deviceTelemetry,
  download,
  image,
  startTier,
  states,
  until,
  type Tier,
} from "./support";

for (const tierInfo of TIERS) {
  describe(`ThingsBoard backend through ${tierInfo.name}`, { skip: tierInfo.skip }, () => {
    let tier: Tier;
    before(async () => {
      tier = await startTier(tierInfo.name);
    });
    after(async () => {
      await tier.close();
    });

    it("offers the assigned firmware at start and carries it to UPDATED across a reboot", async () => {
      const data = image(40_000);
      const pkg = tier.cloud.assign({ token: TOKEN, title: TITLE, version: "1.1", data });
      const device = await tier.device({ currentVersion: "1.0" });
      assert.equal(device.listener.connections, 1);
      const offer = await device.listener.nextOffer();
      assert.deepEqual(offer, {
        backend: "thingsboard",
        id: `${TITLE}@1.1`,
        version: "1.1",
        size: 40_000,
        title: TITLE,
        source: { kind: "mqtt-chunks", packageType: "firmware" },
        hashes: { sha256: pkg.checksum },
        context: { kind: "firmware" },
      });
      const got = await download(device.backend.source!(offer), offer);
      assert.deepEqual(got.bytes, data);
      assert.equal(matchDigest("sha256", got.digests.sha256!, offer.hashes.sha256!).match, true);

      for (const bytes of [0, 20_000, 40_000]) {
        await device.backend.report({
          offer,
          status: "downloading",
          progress: { bytes, total: 40_000 },
        });
      }
      for (const status of ["downloaded", "verified", "updating"] as const) {
        await device.backend.report({ offer, status });
      }
      // The reboot: the new image reports on the persisted offer with a new backend.
      const persisted = JSON.parse(JSON.stringify(offer)) as Offer;
      await device.close();
      const rebooted = await tier.device({ currentVersion: "1.1" });
      await rebooted.backend.report({ offer: persisted, status: "testing" });
      await rebooted.backend.report({ offer: persisted, status: "succeeded" });
      await tier.cloud.waitFor((e) => e.values.fw_state === "UPDATED", 3000);
      // The attributes are still there: the same package is presented again.
      assert.equal((await rebooted.listener.nextOffer()).id, offer.id);
      await rebooted.close();

      assert.deepEqual(states(tier.cloud), [
        "DOWNLOADING",
        "DOWNLOADED",
        "VERIFIED",
        "UPDATING",
        "UPDATED",
      ]);
      const telemetry = deviceTelemetry(tier.cloud);
      assert.deepEqual(telemetry[0], { current_fw_title: TITLE, current_fw_version: "1.0" });
      assert.deepEqual(telemetry.at(-1), {
        current_fw_title: TITLE,
        current_fw_version: "1.1",
        fw_state: "UPDATED",
      });
      assert.equal(tier.cloud.status(TOKEN).currentVersion, "1.1");
    });

    it("keeps a window of requests in flight and hands chunks out in order, without duplicates", async () => {
      const data = image(64 * 1024 + 100);
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "2.0", data });
      const device = await tier.device({ window: 8, chunkSize: 4096 });
      const offer = await device.listener.nextOffer((o) => o.version === "2.0");
      const seen = tier.cloud.chunkRequests(TOKEN).length;
      let requestedBeforeFirst: number[] | undefined;
      tier.cloud.onChunkRequest((r) => {
        if (r.chunk === 0) return { delayMs: 300 };
        if (r.chunk === 2) return { delayMs: 100 };
        if (r.chunk === 1 || r.chunk === 3) return { copies: 3 };
      });
      try {
        const got = await download(device.backend.source!(offer), offer, {
          onChunk: () => {
            requestedBeforeFirst ??= tier.cloud
              .chunkRequests(TOKEN)
              .slice(seen)
              .map((r) => r.chunk);
          },
        });
        assert.deepEqual(got.bytes, data);
        assert.equal(matchDigest("sha256", got.digests.sha256!, offer.hashes.sha256!).match, true);
      } finally {
        tier.cloud.onChunkRequest(undefined);
      }
      // While chunk 0 was held back, exactly the window was asked for.
      assert.deepEqual(requestedBeforeFirst, [0, 1, 2, 3, 4, 5, 6, 7]);
      const chunks = tier.cloud
        .chunkRequests(TOKEN)
        .slice(seen)
        .map((r) => r.chunk);
      // 16 full chunks, a short one, and nothing past it: each asked once.
      assert.deepEqual(
        chunks,
        Array.from({ length: 17 }, (_, i) => i),
      );
      assert.ok(
        tier.cloud
          .chunkRequests(TOKEN)
          .slice(seen)
          .every((r) => r.payload === "4096"),
      );
      await device.close();
    });

    it("with a slow reader, never asks for more than the window ahead of it", async () => {
      const data = image(20 * 4096 + 10);
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "2.0.1", data });
      const device = await tier.device({ window: 6 });
      const offer = await device.listener.nextOffer((o) => o.version === "2.0.1");
      const seen = tier.cloud.chunkRequests(TOKEN).length;
      // Bytes handed to the reader; the window counts from the chunk after them.
      let consumed = 0;
      const ahead: number[] = [];
      tier.cloud.onChunkRequest((r) => {
        ahead.push(r.chunk - Math.floor(consumed / 4096));
      });
      const stream = await device.backend.source!(offer).open(0);
      const parts: Uint8Array[] = [];
      try {
        for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
          parts.push(chunk);
          consumed += chunk.length;
          // A reader that writes flash: slower than the network.
          await new Promise((r) => setTimeout(r, 15));
        }
      } finally {
        tier.cloud.onChunkRequest(undefined);
        stream.close();
      }
      assert.deepEqual(Buffer.concat(parts), Buffer.from(data));
      assert.ok(Math.max(...ahead) < 6, `asked ${Math.max(...ahead)} chunks ahead`);
      const chunks = tier.cloud
        .chunkRequests(TOKEN)
        .slice(seen)
        .map((r) => r.chunk);
      assert.deepEqual(
        chunks,
        Array.from({ length: 21 }, (_, i) => i),
      );
      await device.close();
    });

    it("with maxBytesInFlight, grows the window and then the chunk size while the reader waits, within the budget", async () => {
      const data = image(1024 * 1024 + 300);
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "2.0.2", data });
      const budget = 128 * 1024;
      const device = await tier.device({ window: 2, chunkSize: 4096, maxBytesInFlight: budget });
      const offer = await device.listener.nextOffer((o) => o.version === "2.0.2");
      const seen = tier.cloud.chunkRequests(TOKEN).length;
      // Each answer waits 20 ms: a round trip longer than two 4 KiB chunks cover.
      tier.cloud.onChunkRequest(() => ({ delayMs: 20 }));
      let got;
      try {
        got = await download(device.backend.source!(offer), offer);
      } finally {
        tier.cloud.onChunkRequest(undefined);
      }
      assert.deepEqual(got.bytes, data);
      const requests = tier.cloud.chunkRequests(TOKEN).slice(seen);
      const sizes = requests.map((r) => r.chunkSize);
      assert.equal(sizes[0], 4096);
      // The chunk size only grows, by doubling, and never past the budget or the server's limit.
      for (let i = 1; i < sizes.length; i++) {
        assert.ok(sizes[i] === sizes[i - 1] || sizes[i] === 2 * sizes[i - 1], `sizes ${sizes}`);
      }
      assert.ok(Math.max(...sizes) > 4096, `never grew: ${sizes}`);
      assert.ok(Math.max(...sizes) <= Math.min(budget / 2, 65536), `sizes ${sizes}`);
      // Every byte asked for once: the chunks' ranges follow each other without gap or overlap.
      const ranges = requests
        .map((r) => [r.chunk * r.chunkSize, r.chunk * r.chunkSize + r.chunkSize] as const)
        .sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < ranges.length; i++) assert.equal(ranges[i][0], ranges[i - 1][1]);
      assert.ok(ranges.at(-1)![1] > data.length && ranges.at(-2)![1] <= data.length);
      // Far fewer requests than 4 KiB chunks would take.
      assert.ok(requests.length < 257 / 4, `${requests.length} requests`);
      await device.close();
    });

    it("asks again for a chunk whose answer is lost, and resumes from its offset when retries run out", async () => {
      const data = image(48 * 1024);
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "2.1", data });
      const device = await tier.device({ chunkTimeoutMs: 250, chunkRetries: 2, window: 4 });
      const offer = await device.listener.nextOffer((o) => o.version === "2.1");
      const seen = tier.cloud.chunkRequests(TOKEN).length;
      let lost = 0;
      tier.cloud.onChunkRequest((r) => {
        // Chunk 3 is lost twice; chunk 7 of the first request id is lost for good.
        if (r.chunk === 3 && lost++ < 2) return { drop: true };
        if (r.chunk === 7 && r.requestId === tier.cloud.chunkRequests(TOKEN)[seen].requestId) {
          return { drop: true };
        }
      });
      let got;
      try {
        got = await download(device.backend.source!(offer), offer);
      } finally {
        tier.cloud.onChunkRequest(undefined);
      }
      assert.deepEqual(got.bytes, data);
      assert.equal(matchDigest("sha256", got.digests.sha256!, offer.hashes.sha256!).match, true);
      const requests = tier.cloud.chunkRequests(TOKEN).slice(seen);
      const firstId = requests[0].requestId;
      assert.equal(requests.filter((r) => r.requestId === firstId && r.chunk === 3).length, 3);
      assert.equal(requests.filter((r) => r.requestId === firstId && r.chunk === 7).length, 3);
      assert.equal(got.interruptions.length, 1);
      assert.equal(got.interruptions[0].code, "timeout");
      assert.match(got.interruptions[0].message, /chunk 7 /);
      // The second attempt opened at the sector boundary before chunk 7, with a new request id.
      assert.deepEqual(got.opens, [0, 7 * 4096]);
      const second = requests.filter((r) => r.requestId !== firstId);
      assert.equal(second[0].chunk, 7);
      await device.close();
    });

    it("opens at any offset: the chunk holding it, minus the bytes before it", async () => {
      const data = image(30_000);
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "2.2", data });
      const device = await tier.device({ chunkSize: 2048, window: 3 });
      const offer = await device.listener.nextOffer((o) => o.version === "2.2");
      for (const from of [8192, 5000, 30_000]) {
        const seen = tier.cloud.chunkRequests(TOKEN).length;
        const got = await download(device.backend.source!(offer), offer, { from });
        assert.deepEqual(got.bytes, data.subarray(from));
        assert.equal(tier.cloud.chunkRequests(TOKEN)[seen].chunk, Math.floor(from / 2048));
      }
      await device.close();
    });

    it("a new assignment during a download cancels it and offers the new package", async () => {
      const data = image(40 * 1024);
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "3.0", data });
      const device = await tier.device();
      const offer = await device.listener.nextOffer((o) => o.version === "3.0");
      tier.cloud.onChunkRequest((r) => (r.chunk >= 4 ? { delayMs: 200 } : undefined));
      const newer = image(20_000);
      const running = download(device.backend.source!(offer), offer, {
        onChunk: (bytes) => {
          if (bytes === 4096)
            tier.cloud.assign({ token: TOKEN, title: TITLE, version: "3.1", data: newer });
        },
      });
      await assert.rejects(
        running,
        (e: OtaError) => e.code === "cancelled" && /3\.1/.test(e.message),
      );
      tier.cloud.onChunkRequest(undefined);
      assert.deepEqual(device.listener.cancels.at(-1)?.id, `${TITLE}@3.0`);
      const next = await device.listener.nextOffer((o) => o.version === "3.1");
      const got = await download(device.backend.source!(next), next);
      assert.deepEqual(got.bytes, newer);
      // The old package cannot be opened again.
      await assert.rejects(
        device.backend.source!(offer).open(0),
        (e: OtaError) => e.code === "cancelled",
      );
      await device.close();
    });

    it("resumes after a dropped connection once the assignment is confirmed unchanged", async () => {
      const data = image(40 * 1024);
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "4.0", data });
      const device = await tier.device();
      const offer = await device.listener.nextOffer((o) => o.version === "4.0");
      let dropped = false;
      tier.cloud.onChunkRequest((r) => (r.chunk >= 3 ? { delayMs: 100 } : undefined));
      const got = await download(device.backend.source!(offer), offer, {
        onChunk: (bytes) => {
          if (bytes >= 8192 && !dropped) {
            dropped = true;
            void tier.cloud.dropDevice(TOKEN);
          }
        },
      });
      tier.cloud.onChunkRequest(undefined);
      assert.deepEqual(got.bytes, data);
      assert.equal(got.interruptions[0].code, "network");
      assert.equal(got.interruptions[0].transient, true);
      assert.ok(got.opens.length >= 2 && got.opens[1] >= 8192);
      assert.ok(device.listener.connections >= 2);
      // The reconnection presented the package again.
      assert.ok(device.listener.offers.filter((o) => o.id === offer.id).length >= 2);
      await device.close();
    });

    it("after a reconnect, a package reassigned meanwhile is cancelled instead of resumed", async () => {
      const data = image(40 * 1024);
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "4.1", data });
      const device = await tier.device();
      const offer = await device.listener.nextOffer((o) => o.version === "4.1");
      const stream = await device.backend.source!(offer).open(0);
      await stream.read();
      // Reassigned while the notification has not reached the device, then the connection drops.
      tier.cloud.assign({
        token: TOKEN,
        title: TITLE,
        version: "4.2",
        data: image(1000),
        notify: false,
      });
      const connections = device.listener.connections;
      await tier.cloud.dropDevice(TOKEN);
      await assert.rejects(
        (async () => {
          for (;;) await stream.read();
        })(),
        (e: OtaError) => e.code === "network" && e.transient,
      );
      await until(() => device.listener.connections > connections, 5000, "the reconnection");
      await assert.rejects(
        device.backend.source!(offer).open(4096),
        (e: OtaError) => e.code === "cancelled" && /4\.2/.test(e.message),
      );
      assert.deepEqual(device.listener.cancels.at(-1)?.id, offer.id);
      assert.equal((await device.listener.nextOffer((o) => o.version === "4.2")).size, 1000);
      await device.close();
    });

    it("PAYLOAD_TOO_LARGE on v2/fw/error ends the stream for good, and the server drops the connection", async () => {
      const small = await startTier(tierInfo.name, { maxPayloadSize: 1024 });
      try {
        small.cloud.assign({ token: TOKEN, title: TITLE, version: "5.0", data: image(5000) });
        const device = await small.device({ chunkSize: 2048 });
        const offer = await device.listener.nextOffer();
        await assert.rejects(
          download(device.backend.source!(offer), offer),
          (e: OtaError) =>
            e.code === "chunk-error" && !e.transient && /PAYLOAD_TOO_LARGE/.test(e.message),
        );
        await until(() => device.listener.connections >= 2, 5000, "the reconnection");
        await until(() => device.listener.offers.length >= 2, 5000, "the offer again");
      } finally {
        await small.close();
      }
    });

    it("NOT_FOUND when the package was unassigned unbeknownst to the device; the reconnect withdraws it", async () => {
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "5.1", data: image(5000) });
      const device = await tier.device();
      const offer = await device.listener.nextOffer((o) => o.version === "5.1");
      tier.cloud.unassign(TOKEN, "firmware", { notify: false });
      await assert.rejects(
        download(device.backend.source!(offer), offer),
        (e: OtaError) => e.code === "not-found" && !e.transient,
      );
      await until(() => device.listener.cancels.some((c) => c.id === offer.id), 5000, "the cancel");
      await device.close();
    });

    it("FAILURE when chunks are asked of a URL package", async () => {
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "5.2", data: image(5000) });
      const device = await tier.device();
      const offer = await device.listener.nextOffer((o) => o.version === "5.2");
      const url = "http://127.0.0.1:9/sensor-5.2.bin";
      tier.cloud.assign({
        token: TOKEN,
        title: TITLE,
        version: "5.2",
        url,
        size: 5000,
        notify: false,
      });
      await assert.rejects(
        download(device.backend.source!(offer), offer),
        (e: OtaError) => e.code === "chunk-error" && !e.transient && /URL package/.test(e.message),
      );
      // Reconnected, the device learns the package is to be fetched from fw_url.
      const again = await device.listener.nextOffer((o) => o.source.kind === "http");
      assert.deepEqual(again.source, { kind: "http", url });
      await device.close();
    });

    it("refuses a package with another title: FAILED with fw_error, never offered", async () => {
      tier.cloud.assign({ token: TOKEN, title: "other-product", version: "9.0", data: image(100) });
      const device = await tier.device();
      await tier.cloud.waitFor((e) => /other-product/.test(String(e.values.fw_error)), 3000);
      assert.deepEqual(device.listener.offers, []);
      assert.equal(
        tier.cloud.status(TOKEN).error,
        `Received firmware title (other-product) is different and not meant for this device (${TITLE}) (offer-wrong-device)`,
      );
      await device.close();
    });

    it("the same version: the agent says current, ThingsBoard hears UPDATED", async () => {
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "6.0", data: image(100) });
      const device = await tier.device({ currentVersion: "6.0" });
      const offer = await device.listener.nextOffer();
      await device.backend.report({ offer, status: "current" });
      const entry = await tier.cloud.waitFor(
        (e) => e.values.fw_state === "UPDATED" && e.values.current_fw_version === "6.0",
        3000,
      );
      assert.equal(entry.values.current_fw_title, TITLE);
      await device.close();
    });

    it("withdraws on unassignment; a binary assignment's deleted fw_url withdraws nothing", async () => {
      tier.cloud.unassign(TOKEN);
      const device = await tier.device();
      tier.cloud.assign({
        token: TOKEN,
        title: TITLE,
        version: "7.0",
        url: "http://127.0.0.1:9/a.bin",
        size: 10,
      });
      const first = await device.listener.nextOffer((o) => o.version === "7.0");
      assert.deepEqual(first.source, { kind: "http", url: "http://127.0.0.1:9/a.bin" });
      const from = device.listener.offers.length;
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "7.1", data: image(10) });
      const second = await device.listener.nextOffer(() => true, from);
      assert.equal(second.version, "7.1");
      assert.deepEqual(second.source, { kind: "mqtt-chunks", packageType: "firmware" });
      tier.cloud.unassign(TOKEN);
      await until(() => device.listener.cancels.length >= 2, 3000, "the second cancel");
      assert.deepEqual(
        device.listener.cancels.map((c) => c.id),
        [`${TITLE}@7.0`, `${TITLE}@7.1`],
      );
      // Nothing else was offered meanwhile (in particular not 7.1 with the stale URL).
      assert.equal(device.listener.offers.length, from + 1);
      await device.close();
    });

    it("failures and refusals become FAILED with a specific fw_error", async () => {
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "8.0", data: image(100) });
      const device = await tier.device();
      const offer = await device.listener.nextOffer((o) => o.version === "8.0");
      await device.backend.report({
        offer,
        status: "failed",
        failure: {
          code: "checksum-mismatch",
          message: "SHA256 of the image is 00ff, expected 11ee",
        },
      });
      await tier.cloud.waitFor(
        (e) => e.values.fw_error !== undefined && /00ff/.test(String(e.values.fw_error)),
        3000,
      );
      assert.equal(
        tier.cloud.status(TOKEN).error,
        "SHA256 of the image is 00ff, expected 11ee (checksum-mismatch)",
      );
      await device.backend.report({
        offer,
        status: "rejected",
        failure: { code: "offer-downgrade", message: "8.0 is older than the running 9.0" },
      });
      await tier.cloud.waitFor((e) => /older/.test(String(e.values.fw_error)), 3000);
      assert.equal(tier.cloud.status(TOKEN).state, "FAILED");
      await device.close();
    });

    it("software packages: sw_ attributes, v2/sw topics, sw_state", async () => {
      const data = image(12_345);
      const pkg = tier.cloud.assign({
        token: TOKEN,
        type: "software",
        title: TITLE,
        version: "1.5",
        data,
      });
      const device = await tier.device({ kind: "software", currentVersion: "1.4" });
      const offer = await device.listener.nextOffer();
      assert.deepEqual(offer.source, { kind: "mqtt-chunks", packageType: "software" });
      assert.equal(offer.context.kind, "software");
      assert.equal(offer.hashes.sha256, pkg.checksum);
      const seen = tier.cloud.chunkRequests(TOKEN).length;
      const got = await download(device.backend.source!(offer), offer);
      assert.deepEqual(got.bytes, data);
      assert.ok(
        tier.cloud
          .chunkRequests(TOKEN)
          .slice(seen)
          .every((r) => r.type === "software"),
      );
      await device.backend.report({
        offer,
        status: "downloading",
        progress: { bytes: 0, total: 12_345 },
      });
      await device.backend.report({ offer, status: "succeeded" });
      await tier.cloud.waitFor((e) => e.values.sw_state === "UPDATED", 3000);
      assert.deepEqual(tier.cloud.status(TOKEN, "software"), {
        state: "UPDATED",
        error: undefined,
        currentTitle: TITLE,
        currentVersion: "1.5",
        targetTitle: TITLE,
        targetVersion: "1.5",
      });
      assert.ok(deviceTelemetry(tier.cloud).some((v) => v.current_sw_version === "1.4"));
      tier.cloud.unassign(TOKEN, "software");
      await device.close();
    });
  });
}

describe("ThingsBoard backend over TLS", () => {
  it("connects with mqtts, the access token as user name, and downloads", async () => {
    const pki = makePki();
    const tier = await startTier(
      "aedes",
      { tls: { cert: pki.serverCert, key: pki.serverKey } },
      pki.ca,
    );
    try {
      assert.match(tier.cloud.brokerUrl, /^mqtts:/);
      const data = image(10_000);
      tier.cloud.assign({ token: TOKEN, title: TITLE, version: "1.0", data });
      const device = await tier.device();
      const offer = await device.listener.nextOffer();
      assert.deepEqual((await download(device.backend.source!(offer), offer)).bytes, data);
    } finally {
      await tier.close();
    }
  });
});
