// The local ThingsBoard seen by a plain MQTT client, as a device without our backend sees it: the
// server behaviour of shared/reference/protocols-and-peers.md section 4 and its Addendum.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { createDigest } from "../../src/core/hash/index";
import type { HashAlgorithm } from "../../src/core/ports";
import { toHex } from "../../src/core/util/bytes";
import {
  ACCEPTED_FILTERS,
  CHECKSUM_ALGORITHMS,
  startThingsBoardCloud,
  thingsBoardChecksum,
  type ChecksumAlgorithm,
  type ThingsBoardCloud,
} from "../../tools/clouds/thingsboard/index";
import { mosquittoSkip, startMosquitto } from "../support/mosquitto";

const TOKEN = "DEVICE_TOKEN_1";

interface Received {
  topic: string;
  payload: Buffer;
}

/** A connected client that records every message, and whether the server closed it. */
async function device(
  url: string,
  token = TOKEN,
  clientId = `c-${randomBytes(3).toString("hex")}`,
) {
  const client = await mqtt.connectAsync(url, {
    clientId,
    username: token,
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
  const received: Received[] = [];
  let closed = false;
  client.on("message", (topic, payload) => received.push({ topic, payload }));
  client.on("close", () => (closed = true));
  return {
    client,
    received,
    closed: () => closed,
    /** The next message on `topic` (a received one counts once). */
    async next(topic: string | RegExp, ms = 3000): Promise<Received> {
      const deadline = Date.now() + ms;
      for (;;) {
        const index = received.findIndex((m) =>
          typeof topic === "string" ? m.topic === topic : topic.test(m.topic),
        );
        if (index >= 0) return received.splice(index, 1)[0];
        if (Date.now() > deadline) throw new Error(`nothing on ${topic}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async untilClosed(ms = 3000) {
      const deadline = Date.now() + ms;
      while (!closed) {
        if (Date.now() > deadline) throw new Error("the server did not close the connection");
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}

async function end(client: MqttClient) {
  await client.endAsync(true);
}

const json = (m: Received) => JSON.parse(m.payload.toString()) as Record<string, unknown>;

describe("local ThingsBoard, its own MQTT server", () => {
  let cloud: ThingsBoardCloud;
  before(async () => {
    cloud = await startThingsBoardCloud();
    cloud.addDevice(TOKEN);
  });
  after(async () => {
    await cloud.close();
  });

  it("refuses a connection whose access token it does not know", async () => {
    await assert.rejects(
      mqtt.connectAsync(cloud.brokerUrl, { username: "nobody", reconnectPeriod: 0 }),
      (e: Error & { code?: number }) => e.code === 5,
    );
  });

  it("accepts only its own subscribe filters, and pushes chunks to a device that subscribed to none", async () => {
    const d = await device(cloud.brokerUrl);
    // mqtt.js turns a SUBACK with a refusal into an error that carries the packet.
    const suback = await d.client
      .subscribeAsync(
        [
          "v1/devices/me/attributes",
          "v2/fw/response/+",
          "v2/fw/response/+/chunk/+",
          "#",
          "v2/sw/error",
        ],
        { qos: 1 },
      )
      .then(
        () => assert.fail("a SUBACK without refusals"),
        (error: Error & { packet?: { granted: number[] } }) => error.packet,
      );
    assert.deepEqual(suback?.granted, [1, 128, 1, 128, 1]);
    assert.ok(ACCEPTED_FILTERS.includes("v1/devices/me/attributes/response/+"));
    await end(d.client);

    cloud.assign({ token: TOKEN, title: "t", version: "1", data: Buffer.from("0123456789") });
    const bare = await device(cloud.brokerUrl);
    await bare.client.publishAsync("v2/fw/request/1/chunk/0", "4", { qos: 1 });
    const chunk = await bare.next("v2/fw/response/1/chunk/0");
    assert.equal(chunk.payload.toString(), "0123");
    await end(bare.client);
  });

  it("answers attribute requests with the shared keys asked for", async () => {
    cloud.unassign(TOKEN);
    const d = await device(cloud.brokerUrl);
    await d.client.publishAsync(
      "v1/devices/me/attributes/request/1",
      JSON.stringify({ sharedKeys: "fw_title,fw_version" }),
      { qos: 1 },
    );
    assert.deepEqual(json(await d.next("v1/devices/me/attributes/response/1")), {});
    const pkg = cloud.assign({ token: TOKEN, title: "t", version: "2", data: Buffer.alloc(300) });
    await d.client.publishAsync(
      "v1/devices/me/attributes/request/2",
      JSON.stringify({
        sharedKeys: "fw_title,fw_version,fw_size,fw_checksum,fw_checksum_algorithm,fw_url",
      }),
      { qos: 1 },
    );
    assert.deepEqual(json(await d.next("v1/devices/me/attributes/response/2")), {
      shared: {
        fw_title: "t",
        fw_version: "2",
        fw_size: 300,
        fw_checksum: pkg.checksum,
        fw_checksum_algorithm: "SHA256",
      },
    });
    // Client attributes the device published come back in their own section.
    await d.client.publishAsync("v1/devices/me/attributes", JSON.stringify({ model: "x1" }), {
      qos: 1,
    });
    await d.client.publishAsync("v1/devices/me/attributes/request/3", "{}", { qos: 1 });
    const all = json(await d.next("v1/devices/me/attributes/response/3"));
    assert.deepEqual(all.client, { model: "x1" });
    assert.equal((all.shared as Record<string, unknown>).fw_version, "2");
    await end(d.client);
  });

  it("pushes an assignment as the deleted keys, then the attributes; an unassignment deletes every key", async () => {
    cloud.unassign(TOKEN);
    const listening = await device(cloud.brokerUrl);
    const deaf = await device(cloud.brokerUrl);
    await listening.client.subscribeAsync("v1/devices/me/attributes", { qos: 1 });
    const pkg = cloud.assign({
      token: TOKEN,
      title: "t",
      version: "3",
      data: Buffer.alloc(10),
      tag: "t 3",
    });
    assert.deepEqual(json(await listening.next("v1/devices/me/attributes")), {
      deleted: ["fw_url"],
    });
    assert.deepEqual(json(await listening.next("v1/devices/me/attributes")), {
      fw_title: "t",
      fw_version: "3",
      fw_tag: "t 3",
      fw_size: 10,
      fw_checksum_algorithm: "SHA256",
      fw_checksum: pkg.checksum,
    });
    cloud.assign({ token: TOKEN, title: "t", version: "4", url: "http://h/f.bin" });
    assert.deepEqual(json(await listening.next("v1/devices/me/attributes")), {
      deleted: ["fw_tag", "fw_size", "fw_checksum_algorithm", "fw_checksum"],
    });
    assert.deepEqual(json(await listening.next("v1/devices/me/attributes")), {
      fw_title: "t",
      fw_version: "4",
      fw_url: "http://h/f.bin",
    });
    cloud.unassign(TOKEN);
    assert.deepEqual(json(await listening.next("v1/devices/me/attributes")), {
      deleted: [
        "fw_title",
        "fw_version",
        "fw_ts",
        "fw_state",
        "fw_size",
        "fw_checksum",
        "fw_checksum_algorithm",
        "fw_url",
        "fw_tag",
      ],
    });
    assert.deepEqual(cloud.attributes(TOKEN).shared, {});
    cloud.assign({ token: TOKEN, title: "t", version: "5", data: Buffer.alloc(1), notify: false });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(listening.received, []);
    assert.deepEqual(deaf.received, []);
    await end(listening.client);
    await end(deaf.client);
  });

  it("remembers the chunk size per request id, sends the whole file when none was ever given, and an empty chunk past the end", async () => {
    const data = randomBytes(2500);
    cloud.assign({ token: TOKEN, title: "t", version: "6", data });
    const d = await device(cloud.brokerUrl);
    const ask = async (id: number, chunk: number, size: string) => {
      await d.client.publishAsync(`v2/fw/request/${id}/chunk/${chunk}`, size, { qos: 1 });
      return (await d.next(`v2/fw/response/${id}/chunk/${chunk}`)).payload;
    };
    assert.deepEqual(await ask(7, 0, "1000"), data.subarray(0, 1000));
    assert.deepEqual(await ask(7, 1, ""), data.subarray(1000, 2000));
    // The last chunk is short; the next one is empty.
    assert.deepEqual(await ask(7, 2, ""), data.subarray(2000));
    assert.equal((await ask(7, 3, "")).length, 0);
    assert.deepEqual(await ask(8, 0, ""), data);
    // A new size for an id replaces the old one.
    assert.deepEqual(await ask(7, 1, "500"), data.subarray(500, 1000));
    assert.deepEqual(
      cloud
        .chunkRequests(TOKEN)
        .slice(-6)
        .map((r) => [r.requestId, r.chunk, r.payload, r.chunkSize]),
      [
        ["7", 0, "1000", 1000],
        ["7", 1, "", 1000],
        ["7", 2, "", 1000],
        ["7", 3, "", 1000],
        ["8", 0, "", 0],
        ["7", 1, "500", 500],
      ],
    );
    await end(d.client);
  });

  it("a request id keeps its package until the connection ends; a new id, or a new connection, gets the new one", async () => {
    const first = randomBytes(64);
    const second = randomBytes(64);
    cloud.assign({ token: TOKEN, title: "t", version: "7", data: first });
    const d = await device(cloud.brokerUrl);
    const ask = async (client: typeof d, id: number, chunk: number) => {
      await client.client.publishAsync(`v2/fw/request/${id}/chunk/${chunk}`, "16", { qos: 1 });
      return (await client.next(`v2/fw/response/${id}/chunk/${chunk}`)).payload;
    };
    assert.deepEqual(await ask(d, 5, 0), first.subarray(0, 16));
    cloud.assign({ token: TOKEN, title: "t", version: "8", data: second });
    assert.deepEqual(await ask(d, 5, 1), first.subarray(16, 32));
    assert.deepEqual(await ask(d, 6, 1), second.subarray(16, 32));
    await end(d.client);
    const again = await device(cloud.brokerUrl);
    assert.deepEqual(await ask(again, 5, 1), second.subarray(16, 32));
    await end(again.client);
  });

  it("PAYLOAD_TOO_LARGE, NOT_FOUND and FAILURE arrive on v2/fw/error, then the server closes the connection", async () => {
    cloud.assign({ token: TOKEN, title: "t", version: "9", data: Buffer.alloc(100) });
    cloud.unassign(TOKEN, "software");
    const cases: [string, string, () => void][] = [
      ["v2/fw/request/1/chunk/0", "65537", () => {}],
      ["v2/sw/request/1/chunk/0", "1024", () => {}],
      [
        "v2/fw/request/1/chunk/0",
        "1024",
        () => cloud.assign({ token: TOKEN, title: "t", version: "10", url: "http://h/x.bin" }),
      ],
    ];
    const errors: string[] = [];
    for (const [topic, size, setUp] of cases) {
      setUp();
      const d = await device(cloud.brokerUrl);
      await d.client.publishAsync(topic, size, { qos: 0 });
      errors.push((await d.next("v2/fw/error")).payload.toString());
      await d.untilClosed();
    }
    assert.deepEqual(errors, ["PAYLOAD_TOO_LARGE", "NOT_FOUND", "FAILURE"]);
    // 65536 itself is allowed.
    cloud.assign({ token: TOKEN, title: "t", version: "11", data: Buffer.alloc(70_000, 7) });
    const d = await device(cloud.brokerUrl);
    await d.client.publishAsync("v2/fw/request/2/chunk/0", "65536", { qos: 1 });
    assert.equal((await d.next("v2/fw/response/2/chunk/0")).payload.length, 65536);
    // A size that is not a number: the server drops the connection without a word.
    await d.client.publishAsync("v2/fw/request/2/chunk/1", "4k", { qos: 0 });
    await d.untilClosed();
    assert.equal(d.received.length, 0);
  });

  it("records the server's QUEUED and INITIATED and every device report, per device", async () => {
    const other = "OTHER_TOKEN";
    cloud.addDevice(other);
    const before = cloud.telemetry(TOKEN).length;
    cloud.assign({ token: TOKEN, title: "t", version: "12", data: Buffer.alloc(1), tag: "t-12" });
    const server = cloud.telemetry(TOKEN).slice(before);
    assert.deepEqual(
      server.map((e) => [e.source, e.values]),
      [
        [
          "server",
          {
            target_fw_title: "t",
            target_fw_version: "12",
            target_fw_tag: "t-12",
            target_fw_ts: server[0].ts,
            fw_state: "QUEUED",
          },
        ],
        ["server", { fw_state: "INITIATED" }],
      ],
    );
    const d = await device(cloud.brokerUrl);
    const waiting = cloud.waitFor((e) => e.values.fw_state === "DOWNLOADED");
    await d.client.publishAsync(
      "v1/devices/me/telemetry",
      JSON.stringify({ fw_state: "DOWNLOADING" }),
      { qos: 1 },
    );
    await d.client.publishAsync(
      "v1/devices/me/telemetry",
      JSON.stringify([{ ts: 1000, values: { fw_state: "DOWNLOADED" } }]),
      { qos: 1 },
    );
    const downloaded = await waiting;
    assert.equal(downloaded.ts, 1000);
    assert.equal(downloaded.source, "device");
    assert.deepEqual(cloud.status(TOKEN), {
      state: "DOWNLOADED",
      error: undefined,
      currentTitle: undefined,
      currentVersion: undefined,
      targetTitle: "t",
      targetVersion: "12",
    });
    assert.deepEqual(cloud.telemetry(other), []);
    await assert.rejects(
      cloud.waitFor((e) => e.values.fw_state === "NEVER", 50),
      /no matching telemetry/,
    );
    await end(d.client);
  });
});

describe("local ThingsBoard checksums, as the server's Guava writes them", () => {
  const ascii = Buffer.from("123456789");

  it("gives the known values for 123456789", () => {
    assert.equal(thingsBoardChecksum("CRC32", ascii), "2639f4cb");
    assert.equal(thingsBoardChecksum("MD5", ascii), "25f9e794323b453885f5181f1b624d0b");
    assert.equal(
      thingsBoardChecksum("SHA256", ascii),
      "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
    );
  });

  it("agrees with the core's hashes in Guava's byte order, for every algorithm", () => {
    const core: Record<ChecksumAlgorithm, HashAlgorithm> = {
      MD5: "md5",
      SHA256: "sha256",
      SHA384: "sha384",
      SHA512: "sha512",
      CRC32: "crc32",
      MURMUR3_32: "murmur3_32",
      MURMUR3_128: "murmur3_128",
    };
    for (const length of [0, 1, 15, 16, 17, 1000, 4096 + 3]) {
      const data = randomBytes(length);
      for (const algorithm of CHECKSUM_ALGORITHMS) {
        const digest = createDigest(core[algorithm]);
        digest.update(data);
        const bytes = digest.digest();
        // The core gives 32-bit values big-endian; Guava's HashCode.fromInt writes them little-endian.
        const guava =
          algorithm === "CRC32" || algorithm === "MURMUR3_32" ? bytes.slice().reverse() : bytes;
        assert.equal(
          thingsBoardChecksum(algorithm, data),
          toHex(guava),
          `${algorithm} of ${length} bytes`,
        );
      }
    }
  });
});

describe("local ThingsBoard over an external broker (one device)", { skip: mosquittoSkip }, () => {
  const clientId = "tb-device-1";
  let mosquitto: Awaited<ReturnType<typeof startMosquitto>>;
  let cloud: ThingsBoardCloud;
  before(async () => {
    mosquitto = await startMosquitto();
    cloud = await startThingsBoardCloud({
      brokerUrl: mosquitto.url,
      device: { token: TOKEN, clientId },
    });
  });
  after(async () => {
    await cloud.close();
    await mosquitto.close();
  });

  it("serves attributes and chunks, and ends the device's connection after an error", async () => {
    const data = randomBytes(3000);
    const pkg = cloud.assign({
      token: TOKEN,
      title: "t",
      version: "1",
      data,
      algorithm: "MURMUR3_128",
    });
    const d = await device(cloud.brokerUrl, TOKEN, clientId);
    await d.client.subscribeAsync(
      [
        "v1/devices/me/attributes",
        "v1/devices/me/attributes/response/+",
        "v2/fw/response/+/chunk/+",
        "v2/fw/error",
      ],
      { qos: 1 },
    );
    await d.client.publishAsync(
      "v1/devices/me/attributes/request/4",
      JSON.stringify({ sharedKeys: "fw_checksum" }),
      {
        qos: 1,
      },
    );
    assert.deepEqual(json(await d.next("v1/devices/me/attributes/response/4")), {
      shared: { fw_checksum: pkg.checksum },
    });
    await d.client.publishAsync("v2/fw/request/3/chunk/2", "1024", { qos: 1 });
    assert.deepEqual((await d.next("v2/fw/response/3/chunk/2")).payload, data.subarray(2048));
    cloud.assign({ token: TOKEN, title: "t", version: "2", data: Buffer.alloc(5) });
    assert.equal(json(await d.next("v1/devices/me/attributes")).deleted !== undefined, true);
    assert.equal(json(await d.next("v1/devices/me/attributes")).fw_version, "2");
    await d.client.publishAsync(
      "v1/devices/me/telemetry",
      JSON.stringify({ fw_state: "FAILED", fw_error: "x" }),
      {
        qos: 1,
      },
    );
    await cloud.waitFor((e) => e.values.fw_error === "x");
    await d.client.publishAsync("v2/fw/request/9/chunk/0", "70000", { qos: 1 });
    assert.equal((await d.next("v2/fw/error")).payload.toString(), "PAYLOAD_TOO_LARGE");
    await d.untilClosed();
  });
});
