// The boards' MQTT 3.1.1 codec (src/mqtt/codec.ts) against mqtt-packet, the codec of mqtt.js and
// aedes: what ours writes, mqtt-packet reads back the same; what mqtt-packet writes, ours reads
// back the same, whatever pieces the stream is cut into.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as mqttPacket from "mqtt-packet";
import {
  MAX_REMAINING_LENGTH,
  PacketReader,
  decodeAck,
  decodeConnack,
  decodePublish,
  decodeSuback,
  encodeConnect,
  encodeEmpty,
  encodePuback,
  encodePublish,
  encodeSubscribe,
  encodeUnsubscribe,
  type Packet,
} from "../../src/mqtt/codec";

/** Everything mqtt-packet reads from `bytes`, which must be whole packets. */
function parse(bytes: Uint8Array): mqttPacket.Packet[] {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: mqttPacket.Packet[] = [];
  const errors: Error[] = [];
  parser.on("packet", (packet) => packets.push(packet));
  parser.on("error", (error) => errors.push(error));
  const left = parser.parse(Buffer.from(bytes));
  assert.deepEqual(errors, []);
  assert.equal(left, 0, "bytes left over");
  return packets;
}

function one(bytes: Uint8Array): mqttPacket.Packet {
  const packets = parse(bytes);
  assert.equal(packets.length, 1);
  return packets[0];
}

function generate(packet: mqttPacket.Packet): Uint8Array {
  return new Uint8Array(mqttPacket.generate(packet, { protocolVersion: 4 }));
}

/** Feeds `bytes` to a reader cut at `cuts` (offsets), collecting the packets. */
function readInPieces(bytes: Uint8Array, cuts: number[]): Packet[] {
  const reader = new PacketReader();
  const packets: Packet[] = [];
  const points = [
    0,
    ...cuts.filter((cut) => cut > 0 && cut < bytes.length).sort((a, b) => a - b),
    bytes.length,
  ];
  for (let i = 0; i + 1 < points.length; i++)
    packets.push(...reader.push(bytes.subarray(points[i], points[i + 1])));
  return packets;
}

const topic = fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 });
const payload = fc.uint8Array({ maxLength: 3000 });

describe("MQTT codec: what the board sends", () => {
  it("CONNECT with and without credentials", () => {
    const full = one(
      encodeConnect({
        clientId: "dev-1",
        username: "user",
        password: "pässword",
        keepAlive: 60,
        clean: true,
      }),
    ) as mqttPacket.IConnectPacket;
    assert.equal(full.protocolId, "MQTT");
    assert.equal(full.protocolVersion, 4);
    assert.equal(full.clientId, "dev-1");
    assert.equal(full.username, "user");
    assert.equal(full.password?.toString(), "pässword");
    assert.equal(full.keepalive, 60);
    assert.equal(full.clean, true);
    const bare = one(
      encodeConnect({ clientId: "", keepAlive: 0, clean: false }),
    ) as mqttPacket.IConnectPacket;
    assert.equal(bare.clientId, "");
    assert.equal(bare.username, undefined);
    assert.equal(bare.password, undefined);
    assert.equal(bare.clean, false);
    // The bytes of the spec's example header (3.1.2): name, level 4, flags, keep-alive.
    assert.deepEqual(
      [...encodeConnect({ clientId: "a", keepAlive: 10, clean: true })],
      [0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 10, 0, 1, 0x61],
    );
  });

  it("PUBLISH at QoS 0 and 1, with and without DUP, any topic and payload", () => {
    fc.assert(
      fc.property(
        topic,
        payload,
        fc.boolean(),
        fc.integer({ min: 1, max: 65535 }),
        (name, body, dup, id) => {
          const qos0 = one(
            encodePublish({
              topic: name,
              payload: body,
              qos: 0,
              id: 0,
              duplicate: false,
              retain: false,
            }),
          ) as mqttPacket.IPublishPacket;
          assert.equal(qos0.topic, name);
          assert.equal(qos0.qos, 0);
          assert.deepEqual(new Uint8Array(qos0.payload as Buffer), body);
          const qos1 = one(
            encodePublish({
              topic: name,
              payload: body,
              qos: 1,
              id,
              duplicate: dup,
              retain: false,
            }),
          ) as mqttPacket.IPublishPacket;
          assert.equal(qos1.qos, 1);
          assert.equal(qos1.dup, dup);
          assert.equal(qos1.messageId, id);
          assert.equal(qos1.retain, false);
          assert.deepEqual(new Uint8Array(qos1.payload as Buffer), body);
        },
      ),
    );
  });

  it("SUBSCRIBE, UNSUBSCRIBE, PUBACK, PINGREQ and DISCONNECT", () => {
    const subscribe = one(
      encodeSubscribe(7, [
        { topic: "$aws/things/dev-1/jobs/notify-next", qos: 1 },
        { topic: "v2/fw/response/+/chunk/#", qos: 0 },
      ]),
    ) as mqttPacket.ISubscribePacket;
    assert.equal(subscribe.messageId, 7);
    assert.deepEqual(
      subscribe.subscriptions.map((s) => [s.topic, s.qos]),
      [
        ["$aws/things/dev-1/jobs/notify-next", 1],
        ["v2/fw/response/+/chunk/#", 0],
      ],
    );
    const unsubscribe = one(
      encodeUnsubscribe(65535, ["a/b", "c/#"]),
    ) as mqttPacket.IUnsubscribePacket;
    assert.equal(unsubscribe.messageId, 65535);
    assert.deepEqual(unsubscribe.unsubscriptions, ["a/b", "c/#"]);
    const puback = one(encodePuback(258)) as mqttPacket.IPubackPacket;
    assert.equal(puback.cmd, "puback");
    assert.equal(puback.messageId, 258);
    assert.equal(one(encodeEmpty(12)).cmd, "pingreq");
    assert.equal(one(encodeEmpty(14)).cmd, "disconnect");
  });

  it("the remaining length at each boundary of its encoding", () => {
    // Topic "t": 3 bytes of topic field, 2 of packet id; the payload makes up the rest.
    for (const length of [127, 128, 16383, 16384, 2097151, 2097152]) {
      const bytes = encodePublish({
        topic: "t",
        payload: new Uint8Array(length - 5).fill(0x5a),
        qos: 1,
        id: 1,
        duplicate: false,
        retain: false,
      });
      const header = length < 128 ? 2 : length < 16384 ? 3 : length < 2097152 ? 4 : 5;
      assert.equal(bytes.length, header + length, `length ${length}`);
      const packet = one(bytes) as mqttPacket.IPublishPacket;
      assert.equal((packet.payload as Buffer).length, length - 5);
    }
    assert.throws(
      () =>
        encodePublish({
          topic: "t",
          payload: { length: MAX_REMAINING_LENGTH } as Uint8Array,
          qos: 0,
          id: 0,
          duplicate: false,
          retain: false,
        }),
      /MQTT packet too large/,
    );
  });
});

describe("MQTT codec: what the broker sends", () => {
  it("reads CONNACK, SUBACK with a refusal, PUBACK, UNSUBACK and PINGRESP", () => {
    const bytes = [
      generate({ cmd: "connack", returnCode: 0, sessionPresent: true }),
      generate({ cmd: "connack", returnCode: 5, sessionPresent: false }),
      generate({ cmd: "suback", messageId: 9, granted: [1, 128, 0] }),
      generate({ cmd: "puback", messageId: 513 }),
      generate({ cmd: "unsuback", messageId: 4, granted: [] }),
      generate({ cmd: "pingresp" }),
    ];
    const all = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
    bytes.reduce((at, b) => (all.set(b, at), at + b.length), 0);
    const packets = new PacketReader().push(all);
    assert.deepEqual(
      packets.map((p) => p.type),
      [2, 2, 9, 4, 11, 13],
    );
    assert.deepEqual(decodeConnack(packets[0].body), { sessionPresent: true, code: 0 });
    assert.deepEqual(decodeConnack(packets[1].body), { sessionPresent: false, code: 5 });
    assert.deepEqual(decodeSuback(packets[2].body), { id: 9, codes: [1, 128, 0] });
    assert.equal(decodeAck(packets[3].body), 513);
    assert.equal(decodeAck(packets[4].body), 4);
    assert.equal(packets[5].body.length, 0);
  });

  it("reads PUBLISH packets, however the stream is cut", () => {
    const message = fc.record({
      topic,
      payload: fc.uint8Array({ maxLength: 20000 }),
      qos: fc.constantFrom(0 as const, 1 as const),
      dup: fc.boolean(),
      retain: fc.boolean(),
      messageId: fc.integer({ min: 1, max: 65535 }),
    });
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat()),
        (messages, cuts) => {
          const parts = messages.map((m) =>
            generate({
              cmd: "publish",
              topic: m.topic,
              payload: Buffer.from(m.payload),
              qos: m.qos,
              dup: m.qos > 0 && m.dup,
              retain: m.retain,
              messageId: m.qos > 0 ? m.messageId : undefined,
            }),
          );
          const stream = Buffer.concat(parts);
          const packets = readInPieces(
            new Uint8Array(stream),
            cuts.map((cut) => cut % (stream.length + 1)),
          );
          assert.equal(packets.length, messages.length);
          packets.forEach((packet, i) => {
            const m = messages[i];
            assert.equal(packet.type, 3);
            const fields = decodePublish(packet.flags, packet.body);
            assert.equal(fields.topic, m.topic);
            assert.deepEqual(fields.payload, m.payload);
            assert.equal(fields.qos, m.qos);
            assert.equal(fields.duplicate, m.qos > 0 && m.dup);
            assert.equal(fields.retain, m.retain);
            assert.equal(fields.id, m.qos > 0 ? m.messageId : 0);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it("refuses a remaining length longer than four bytes and a PUBLISH shorter than its topic", () => {
    assert.throws(
      () => new PacketReader().push(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])),
      /malformed MQTT remaining length/,
    );
    assert.throws(() => decodePublish(0, new Uint8Array([0, 9, 0x61])), /malformed MQTT PUBLISH/);
    assert.throws(() => decodePublish(6, new Uint8Array([0, 1, 0x61])), /malformed MQTT PUBLISH/);
    assert.throws(() => decodeConnack(new Uint8Array([0])), /malformed MQTT CONNACK/);
    assert.throws(() => decodeSuback(new Uint8Array([0, 1])), /malformed MQTT SUBACK/);
  });
});
