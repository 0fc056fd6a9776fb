// The local Tencent IoT Hub at the protocol level, with plain MQTT clients as devices: the
// platform's check of signed and certificate credentials, topic permissions, report_version_rsp,
// the re-send of update_firmware, and the record of report_progress.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { mqttIdentity } from "../../src/backends/tencent/index";
import { startTencentCloud, type TencentCloud } from "../../tools/clouds/tencent/index";
import { makePki } from "../support/certs";
import { mosquittoSkip, startMosquitto } from "../support/mosquitto";

const PRODUCT = "PRODUCT001";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RawDevice {
  client: MqttClient;
  messages: Record<string, unknown>[];
  /** The next message not yet taken, within 2 s. */
  next(): Promise<Record<string, unknown>>;
}

async function rawDevice(url: string, options: mqtt.IClientOptions): Promise<RawDevice> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options });
  const messages: Record<string, unknown>[] = [];
  let taken = 0;
  client.on("message", (_topic, payload) => messages.push(JSON.parse(payload.toString())));
  return {
    client,
    messages,
    async next() {
      for (let waited = 0; messages.length <= taken; waited += 20) {
        if (waited > 2000) throw new Error("no message from the cloud");
        await sleep(20);
      }
      return messages[taken++];
    },
  };
}

/** The CONNACK return code of a refused connection, or 0. */
async function connackCode(url: string, options: mqtt.IClientOptions): Promise<number> {
  try {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options });
    await client.endAsync(true);
    return 0;
  } catch (error) {
    return (error as { code: number }).code;
  }
}

const reportVersion = (version: string) =>
  JSON.stringify({ type: "report_version", report: { version } });

const progress = (version: string, fields: Record<string, unknown>) =>
  JSON.stringify({ type: "report_progress", report: { progress: fields, version } });

describe("tencent cloud with its own broker", () => {
  let cloud: TencentCloud;
  let secret: string;
  before(async () => {
    cloud = await startTencentCloud();
    secret = cloud.registerDevice({ productId: PRODUCT, deviceName: "alpha" }).secret!;
    cloud.registerDevice({ productId: PRODUCT, deviceName: "beta" });
  });
  after(async () => {
    await cloud?.close();
  });
  const alpha = () => ({ productId: PRODUCT, deviceName: "alpha", deviceSecret: secret });

  it("accepts the signed credentials of a key device, HMAC-SHA256 and HMAC-SHA1", async () => {
    assert.equal(cloud.authenticates, true);
    for (const signMethod of ["hmacsha256", "hmacsha1"] as const) {
      const identity = mqttIdentity({ ...alpha(), signMethod }, Date.now());
      assert.equal(await connackCode(cloud.brokerUrl, identity), 0, signMethod);
      assert.deepEqual(cloud.connections.at(-1), {
        clientId: identity.clientId,
        username: identity.username,
        accepted: true,
        reason: "accepted",
      });
    }
  });

  it("refuses a wrong secret, an expired signature, a foreign user name and unknown devices", async () => {
    const good = mqttIdentity(alpha(), Date.now());
    const cases: [string, mqtt.IClientOptions, number, RegExp][] = [
      [
        "wrong secret",
        mqttIdentity({
          ...alpha(),
          deviceSecret: Buffer.from("another secret").toString("base64"),
        }),
        4,
        /signature does not match/,
      ],
      [
        "expired",
        mqttIdentity({ ...alpha(), signatureLifetimeSeconds: 1 }, Date.now() - 60_000),
        4,
        /expired/,
      ],
      ["user name of another device", { ...good, clientId: PRODUCT + "beta" }, 4, /user name/],
      ["tampered user name", { ...good, username: good.username + "0" }, 4, /signature/],
      ["no password", { ...good, password: undefined }, 4, /password/],
      [
        "unknown device",
        mqttIdentity({ ...alpha(), deviceName: "gamma" }, Date.now()),
        5,
        /no such device/,
      ],
    ];
    for (const [name, options, code, reason] of cases) {
      assert.equal(await connackCode(cloud.brokerUrl, options), code, name);
      const attempt = cloud.connections.at(-1)!;
      assert.equal(attempt.accepted, false, name);
      assert.match(attempt.reason, reason, name);
    }
  });

  it("keeps a device to its own topics", async () => {
    const device = await rawDevice(cloud.brokerUrl, mqttIdentity(alpha()));
    // mqtt.js rejects a SUBACK with a refusal in it; the codes are in the packet.
    const suback = await device.client
      .subscribeAsync(
        [`$ota/update/${PRODUCT}/alpha`, `$ota/update/${PRODUCT}/beta`, "$ota/update/+/+"],
        { qos: 1 },
      )
      .then(
        () => assert.fail("a refusal was expected"),
        (error: { packet: { granted: number[] } }) => error.packet.granted,
      );
    assert.deepEqual(suback, [1, 128, 128]);
    // Publishing as another device is refused: aedes drops the connection (QoS 0: no PUBACK to wait for).
    const closed = new Promise<void>((resolve) => device.client.once("close", () => resolve()));
    device.client.publish(`$ota/report/${PRODUCT}/beta`, reportVersion("9.9.9"), { qos: 0 });
    await closed;
    assert.deepEqual(cloud.device(PRODUCT, "beta").versionReports, []);
    await device.client.endAsync(true);
  });

  it("answers report_version and re-sends update_firmware while the device reports another version", async () => {
    const device = await rawDevice(cloud.brokerUrl, mqttIdentity(alpha()));
    await device.client.subscribeAsync(`$ota/update/${PRODUCT}/alpha`, { qos: 1 });
    const report = `$ota/report/${PRODUCT}/alpha`;
    await device.client.publishAsync(report, reportVersion("1.0.0"), { qos: 1 });
    assert.deepEqual(await device.next(), {
      result_code: 0,
      result_msg: "success",
      type: "report_version_rsp",
      version: "1.0.0",
    });

    let signed = 0;
    const task = cloud.deploy({
      productId: PRODUCT,
      deviceName: "alpha",
      version: "2.0.0",
      url: () => `https://ota.example/fw.bin?sign=${++signed}`,
      md5: "36EB5951179DB14A631463A37A9322A2",
      size: 708482,
    });
    assert.deepEqual(await device.next(), {
      file_size: 708482,
      md5sum: "36eb5951179db14a631463a37a9322a2",
      type: "update_firmware",
      url: "https://ota.example/fw.bin?sign=1",
      version: "2.0.0",
    });

    await device.client.publishAsync(report, reportVersion("1.0.0"), { qos: 1 });
    assert.equal((await device.next()).type, "report_version_rsp");
    const resent = await device.next();
    assert.equal(resent.type, "update_firmware");
    assert.equal(resent.url, "https://ota.example/fw.bin?sign=2", "a freshly signed URL");

    await device.client.publishAsync(report, reportVersion("2.0.0"), { qos: 1 });
    assert.equal((await device.next()).type, "report_version_rsp");
    await device.client.publishAsync(
      report,
      progress("2.0.0", { state: "done", result_code: "0", result_msg: "" }),
      { qos: 1 },
    );
    await cloud.waitFor(() => task.status === "done", 2000, "done");
    await device.client.publishAsync(report, reportVersion("1.0.0"), { qos: 1 });
    assert.equal((await device.next()).type, "report_version_rsp");
    await sleep(100);
    assert.equal(device.messages.length, 6, "no update_firmware once the task is over");
    assert.equal(task.sent.length, 2);
    await device.client.endAsync(true);
  });

  it("records every report_progress and lets only well-formed ones move the task", async () => {
    const device = await rawDevice(cloud.brokerUrl, mqttIdentity(alpha()));
    const task = cloud.deploy({
      productId: PRODUCT,
      deviceName: "alpha",
      version: "3.0.0",
      url: "http://127.0.0.1/fw.bin",
      md5: "36eb5951179db14a631463a37a9322a2",
      size: 1000,
    });
    const report = `$ota/report/${PRODUCT}/alpha`;
    const send = (version: string, fields: Record<string, unknown>) =>
      device.client.publishAsync(report, progress(version, fields), { qos: 1 });
    const records = cloud.device(PRODUCT, "alpha").progress;
    const before = records.length;
    await send("3.0.0", { state: "downloading", percent: 40, result_code: "0", result_msg: "" });
    await send("3.0.0", { state: "fail", result_code: "-9", result_msg: "time_out" });
    await send("2.5.0", { state: "downloading", percent: "10", result_code: "0", result_msg: "" });
    await send("3.0.0", { state: "downloading", percent: "55", result_code: "0", result_msg: "" });
    await cloud.waitFor(() => records.length === before + 4, 2000, "4 reports");
    const fresh = records.slice(before);
    assert.deepEqual(fresh[0].problems, ["percent is a number, not a string"]);
    assert.deepEqual(fresh[1].problems, ["result_code -9 is not -1..-5"]);
    assert.deepEqual(fresh[2].problems, []);
    assert.deepEqual(
      fresh.map((r) => [r.state, r.percent, r.qos]),
      [
        ["downloading", "40", 1],
        ["fail", undefined, 1],
        ["downloading", "10", 1],
        ["downloading", "55", 1],
      ],
    );
    assert.equal(task.status, "downloading");
    assert.equal(task.percent, 55, "only the well-formed report for the task's version counted");
    await device.client.endAsync(true);
  });

  it("waitFor gives up after its timeout", async () => {
    await assert.rejects(
      cloud.waitFor(() => false, 50, "nothing"),
      /timed out after 50 ms waiting for nothing/,
    );
  });
});

describe("tencent cloud with certificate devices over TLS", () => {
  it("accepts a device's own certificate and refuses another device's", async () => {
    const pki = makePki();
    const cloud = await startTencentCloud({
      broker: { tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca } },
      devices: [
        { productId: PRODUCT, deviceName: "cert1", auth: "certificate" },
        { productId: PRODUCT, deviceName: "cert2", auth: "certificate" },
      ],
    });
    try {
      assert.match(cloud.brokerUrl, /^mqtts:/);
      const identity = mqttIdentity({ productId: PRODUCT, deviceName: "cert1" });
      const own = pki.client(PRODUCT + "cert1");
      const other = pki.client(PRODUCT + "cert2");
      assert.equal(await connackCode(cloud.brokerUrl, { ...identity, ca: pki.ca, ...own }), 0);
      assert.equal(await connackCode(cloud.brokerUrl, { ...identity, ca: pki.ca, ...other }), 5);
      assert.match(cloud.connections.at(-1)!.reason, /no client certificate for PRODUCT001cert1/);
    } finally {
      await cloud.close();
    }
  });
});

describe("tencent cloud on mosquitto", { skip: mosquittoSkip }, () => {
  it("relays the protocol through a foreign broker, where it cannot check credentials", async () => {
    const broker = await startMosquitto();
    const cloud = await startTencentCloud({ brokerUrl: broker.url });
    try {
      assert.equal(cloud.authenticates, false);
      assert.equal(cloud.brokerUrl, broker.url);
      const device = await rawDevice(broker.url, {
        clientId: "anything",
        username: "x",
        password: "y",
      });
      await device.client.subscribeAsync(`$ota/update/${PRODUCT}/delta`, { qos: 1 });
      await device.client.publishAsync(`$ota/report/${PRODUCT}/delta`, reportVersion("1.0.0"), {
        qos: 1,
      });
      assert.equal((await device.next()).result_code, 0);
      cloud.deploy({
        productId: PRODUCT,
        deviceName: "delta",
        version: "2.0.0",
        url: "http://127.0.0.1/fw.bin",
        md5: "36eb5951179db14a631463a37a9322a2",
        size: 1000,
      });
      assert.equal((await device.next()).type, "update_firmware");
      await device.client.publishAsync(
        `$ota/report/${PRODUCT}/delta`,
        progress("2.0.0", { state: "fail", result_code: "-2", result_msg: "not-found: HTTP 404" }),
        { qos: 1 },
      );
      const task = await cloud.waitForFinal(PRODUCT, "delta", 2000);
      assert.deepEqual(
        [task.status, task.resultCode, task.resultMsg],
        ["fail", "-2", "not-found: HTTP 404"],
      );
      assert.deepEqual(cloud.connections, []);
      await device.client.endAsync(true);
    } finally {
      await cloud.close();
      await broker.close();
    }
  });
});
