// MQTT 5 clients on the local ThingsBoard, as its official Python SDK connects: CONNECT version 5,
// the getSessionLimits RPC answered before anything else, then the OTA attributes and chunks as
// with 3.1.1. The client is MQTT.js in protocolVersion 5 (a different codec path from the server's).
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { startThingsBoardCloud, type ThingsBoardCloud } from "../../tools/clouds/thingsboard/index";

let cloud: ThingsBoardCloud;
const clients: MqttClient[] = [];

before(async () => {
  cloud = await startThingsBoardCloud({});
  cloud.addDevice("TOKEN5");
});

after(async () => {
  for (const client of clients) await client.endAsync(true);
  await cloud.close();
});

async function connect5(token: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(cloud.brokerUrl, {
    protocolVersion: 5,
    username: token,
    clientId: `sdk-${token}`,
    reconnectPeriod: 0,
    properties: { sessionExpiryInterval: 0, receiveMaximum: 100 },
  });
  clients.push(client);
  return client;
}

function next(
  client: MqttClient,
  pattern: RegExp,
  wanted: (payload: Buffer) => boolean = () => true,
): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve) => {
    const listener = (topic: string, payload: Buffer) => {
      if (!pattern.test(topic) || !wanted(payload)) return;
      client.off("message", listener);
      resolve({ topic, payload });
    };
    client.on("message", listener);
  });
}

it("accepts an MQTT 5 CONNECT and answers getSessionLimits on the RPC response topic", async () => {
  const client = await connect5("TOKEN5");
  const granted = await client.subscribeAsync("v1/devices/me/rpc/response/+", { qos: 1 });
  assert.equal(granted[0].qos, 1);
  const answer = next(client, /^v1\/devices\/me\/rpc\/response\/1$/);
  await client.publishAsync(
    "v1/devices/me/rpc/request/1",
    JSON.stringify({ method: "getSessionLimits", params: {} }),
    { qos: 1 },
  );
  const limits = JSON.parse((await answer).payload.toString()) as Record<string, unknown>;
  assert.equal(limits.maxPayloadSize, 65536);
  assert.equal(typeof limits.maxInflightMessages, "number");
  assert.deepEqual(Object.keys(limits.rateLimits as object).sort(), [
    "messages",
    "telemetryDataPoints",
    "telemetryMessages",
  ]);
});

it("refuses an unknown token with MQTT 5's reason code, not an unsupported-version 132", async () => {
  const error = await mqtt
    .connectAsync(cloud.brokerUrl, { protocolVersion: 5, username: "nope", reconnectPeriod: 0 })
    .then(
      () => undefined,
      (e: Error & { code?: number }) => e,
    );
  assert.equal(error?.code, 0x87);
});

it("serves an assignment to an MQTT 5 device: attributes, then chunks, telemetry recorded", async () => {
  const client = await connect5("TOKEN5");
  await client.subscribeAsync(["v1/devices/me/attributes", "v2/fw/response/+/chunk/+"], { qos: 1 });
  // The assignment arrives as the deleted keys first, then the new attributes.
  const attributes = next(client, /^v1\/devices\/me\/attributes$/, (p) =>
    p.toString().includes("fw_version"),
  );
  const data = Buffer.alloc(3000, 7);
  cloud.assign({ token: "TOKEN5", title: "app", version: "2.0.0", data });
  const pushed = JSON.parse((await attributes).payload.toString()) as Record<string, unknown>;
  assert.equal(pushed.fw_version, "2.0.0");
  const chunk = next(client, /^v2\/fw\/response\/7\/chunk\/0$/);
  await client.publishAsync("v2/fw/request/7/chunk/0", "1024", { qos: 1 });
  assert.deepEqual((await chunk).payload, data.subarray(0, 1024));
  await client.publishAsync(
    "v1/devices/me/telemetry",
    JSON.stringify({ fw_state: "DOWNLOADING" }),
    {
      qos: 1,
    },
  );
  await cloud.waitFor((e) => e.token === "TOKEN5" && e.values.fw_state === "DOWNLOADING", 5000);
  const unsub = await client.unsubscribeAsync([
    "v1/devices/me/attributes",
    "v2/fw/response/+/chunk/+",
  ]);
  assert.ok(unsub);
});
