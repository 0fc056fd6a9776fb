// The boards' MQTT code inside XS: the 3.1.1 codec's round trips and the bytes the spec gives,
// then the session with the codec over a scripted in-memory broker, in virtual time: QoS 1 and
// refused filters, a connection lost with a publish in flight (resent with DUP, subscriptions
// back), keep-alive and a dead link, a broker that never answers CONNECT, close while connecting.
import type { MqttClient } from "../../../src/core/ports";
import { toHex, utf8Decode, utf8Encode } from "../../../src/core/util/bytes";
import {
  PacketReader,
  decodeAck,
  decodeConnack,
  decodePublish,
  decodeSuback,
  encodeConnect,
  encodeEmpty,
  encodePublish,
  encodeSubscribe,
  encodeUnsubscribe,
  type Packet,
} from "../../../src/mqtt/codec";
import { mqttSession, type MqttSessionOptions } from "../../../src/mqtt/session";
import type { MqttConnector } from "../../../src/mqtt/link";
import { streamConnector, type ByteStreamEvents } from "../../../src/mqtt/stream-link";
import { check, checkEqual, clock, type Cases } from "../runtime";

function bytesOf(values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

async function until(condition: () => boolean, what: string, ms = 600000): Promise<void> {
  const deadline = clock.now() + ms;
  while (!condition()) {
    if (clock.now() > deadline) throw new Error(`no ${what} within ${ms} virtual ms`);
    await sleep(10);
  }
}

async function failure(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  return "no failure";
}

/** Reads every packet from `bytes` fed `step` bytes at a time. */
function readAll(bytes: Uint8Array, step: number): Packet[] {
  const reader = new PacketReader();
  const packets: Packet[] = [];
  for (let at = 0; at < bytes.length; at += step) {
    const got = reader.push(bytes.subarray(at, Math.min(at + step, bytes.length)));
    for (let i = 0; i < got.length; i++) packets.push(got[i]);
  }
  return packets;
}

function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---- a scripted broker, as bytes on an in-memory stream ----

interface ScriptOptions {
  /** Never answer CONNECT. */
  silent?: boolean;
  /** CONNACK return code (0 accepts). */
  refuse?: number;
  /** Filters refused in SUBACK. */
  forbidden?: string[];
}

/** What the board sent, one line per packet: "<connection> <TYPE> details". */
interface Broker {
  log: string[];
  connections: number;
  /** Closed by the board (not by the broker). */
  closedByBoard: number;
  options: ScriptOptions;
  /** The next PUBLISH from the board is lost with the connection. */
  dropOnPublish: boolean;
  /** The network stops carrying anything, without closing. */
  dead: boolean;
  open(events: ByteStreamEvents): { write(bytes: Uint8Array): void; close(): void };
}

function readString(body: Uint8Array, at: number): { text: string; end: number } {
  const end = at + 2 + ((body[at] << 8) | body[at + 1]);
  return { text: utf8Decode(body.subarray(at + 2, end)), end };
}

function scriptedBroker(options: ScriptOptions): Broker {
  const broker: Broker = {
    log: [],
    connections: 0,
    closedByBoard: 0,
    options,
    dropOnPublish: false,
    dead: false,
    open(events) {
      const connection = ++broker.connections;
      const reader = new PacketReader();
      /** The broker has hung up: what the board writes now is lost. */
      let hungUp = false;
      // A clean session: what the board subscribed to lasts as long as the connection.
      const subscribed: Record<string, boolean> = {};
      let live = true;
      const reply = (bytes: Uint8Array) =>
        clock.setTimeout(() => {
          if (live && !broker.dead) events.data(bytes);
        }, 1);
      // After the replies already on their way.
      const hangUp = () => {
        hungUp = true;
        clock.setTimeout(() => {
          if (!live) return;
          live = false;
          events.closed("connection reset");
        }, 1);
      };
      const onPacket = (packet: Packet) => {
        const body = packet.body;
        const note = (text: string) => broker.log.push(`${connection} ${text}`);
        if (packet.type === 1) {
          const keepAlive = (body[8] << 8) | body[9];
          note(`CONNECT ${readString(body, 10).text} keep-alive ${keepAlive}`);
          if (broker.options.silent) return;
          reply(bytesOf([0x20, 2, 0, broker.options.refuse || 0]));
          if (broker.options.refuse) hangUp();
        } else if (packet.type === 3) {
          const message = decodePublish(packet.flags, body);
          note(
            `PUBLISH ${message.topic} qos ${message.qos} id ${message.id} dup ${message.duplicate}`,
          );
          if (broker.dropOnPublish) {
            broker.dropOnPublish = false;
            return hangUp();
          }
          if (message.qos === 1) reply(bytesOf([0x40, 2, message.id >> 8, message.id & 0xff]));
          if (subscribed[message.topic])
            reply(
              encodePublish({
                topic: message.topic,
                payload: message.payload.slice(),
                qos: 1,
                id: 77,
                duplicate: false,
                retain: false,
              }),
            );
        } else if (packet.type === 4) {
          note(`PUBACK ${decodeAck(body)}`);
        } else if (packet.type === 8 || packet.type === 10) {
          const id = (body[0] << 8) | body[1];
          const codes: number[] = [];
          const topics: string[] = [];
          for (let at = 2; at < body.length;) {
            const topic = readString(body, at);
            topics.push(topic.text);
            at = topic.end;
            if (packet.type === 10) {
              delete subscribed[topic.text];
              continue;
            }
            const refused = (broker.options.forbidden || []).indexOf(topic.text) >= 0;
            if (!refused) subscribed[topic.text] = true;
            codes.push(refused ? 0x80 : body[at]);
            at++;
          }
          note(`${packet.type === 8 ? "SUBSCRIBE" : "UNSUBSCRIBE"} ${id} ${topics.join(",")}`);
          if (packet.type === 8) reply(bytesOf([0x90, 2 + codes.length, 0, id].concat(codes)));
          else reply(bytesOf([0xb0, 2, 0, id]));
        } else if (packet.type === 12) {
          note("PINGREQ");
          reply(bytesOf([0xd0, 0]));
        } else if (packet.type === 14) note("DISCONNECT");
      };
      clock.setTimeout(() => {
        if (live) events.opened();
      }, 1);
      return {
        write(bytes) {
          if (!live || hungUp || broker.dead) return;
          const packets = reader.push(bytes);
          for (let i = 0; i < packets.length && !hungUp; i++) onPacket(packets[i]);
        },
        close() {
          if (live) broker.closedByBoard++;
          live = false;
        },
      };
    },
  };
  return broker;
}

interface Board {
  mqtt: MqttClient;
  events: string[];
  messages: string[];
  logs: string[];
}

function board(broker: Broker, options: Partial<MqttSessionOptions> = {}): Board {
  const events: string[] = [];
  const messages: string[] = [];
  const logs: string[] = [];
  const settings: MqttSessionOptions = {
    host: "broker.local",
    identity: () => ({ clientId: "dev-1", username: "user" }),
    keepAliveMs: 60000,
    reconnect: { baseMs: 1000, maxMs: 8000 },
    clock,
    logger: { log: (level, message) => logs.push(`${level}: ${message}`) },
  };
  const connect = streamConnector((stream) => broker.open(stream), clock);
  const mqtt = mqttSession(connect, Object.assign(settings, options));
  mqtt.onConnect(() => events.push(`${clock.now()} connect`));
  mqtt.onDisconnect((reason) => events.push(`${clock.now()} disconnect: ${reason}`));
  mqtt.onMessage((message) => messages.push(`${message.topic}: ${utf8Decode(message.payload)}`));
  return { mqtt, events, messages, logs };
}

export default {
  "codec: the spec's bytes"() {
    const connect = toHex(encodeConnect({ clientId: "a", keepAlive: 10, clean: true }));
    checkEqual(connect, "100d00044d5154540402000a000161", "CONNECT");
    const full = toHex(
      encodeConnect({ clientId: "é", username: "u", password: "p", keepAlive: 60, clean: true }),
    );
    checkEqual(full, "101400044d51545404c2003c0002c3a9000175000170", "CONNECT with credentials");
    const subscribe = toHex(encodeSubscribe(10, [{ topic: "a/b", qos: 1 }]));
    checkEqual(subscribe, "8208000a0003612f6201", "SUBSCRIBE");
    return { connect, full, subscribe, unsubscribe: toHex(encodeUnsubscribe(258, ["x"])) };
  },

  "codec: PUBLISH round trips, at every length boundary and in any pieces"() {
    const results: string[] = [];
    const sizes = [0, 1, 120, 121, 122, 16376, 16377, 16378, 70000];
    for (let k = 0; k < sizes.length; k++) {
      const payload = pattern(sizes[k]);
      const bytes = encodePublish({
        topic: "v2/fw/response/1/chunk/0 ü",
        payload,
        qos: (k % 2) as 0 | 1,
        id: 1000 + k,
        duplicate: k % 3 === 0,
        retain: false,
      });
      const steps = [1, 7, 1460, bytes.length];
      for (let s = 0; s < steps.length; s++) {
        const packets = readAll(bytes, steps[s]);
        checkEqual(packets.length, 1, "packets");
        const fields = decodePublish(packets[0].flags, packets[0].body);
        checkEqual(fields.topic, "v2/fw/response/1/chunk/0 ü", "topic");
        check(
          same(fields.payload, payload),
          `payload of ${sizes[k]} bytes in ${steps[s]}-byte pieces`,
        );
        checkEqual(fields.qos, k % 2, "qos");
        checkEqual(fields.id, k % 2 ? 1000 + k : 0, "id");
        checkEqual(fields.duplicate, k % 3 === 0, "dup");
      }
      results.push(`${sizes[k]}: ${bytes.length - sizes[k]} bytes of header and topic`);
    }
    return results;
  },

  "codec: a stream of broker packets"() {
    const stream = bytesOf([
      0x20, 2, 1, 0, 0x90, 5, 0, 9, 1, 0x80, 0, 0x40, 2, 2, 1, 0xb0, 2, 0, 4, 0xd0, 0,
    ]);
    const packets = readAll(stream, 3);
    const types: number[] = [];
    for (let i = 0; i < packets.length; i++) types.push(packets[i].type);
    checkEqual(types.join(), "2,9,4,11,13", "types");
    const connack = decodeConnack(packets[0].body);
    check(connack.sessionPresent && connack.code === 0, "CONNACK");
    const suback = decodeSuback(packets[1].body);
    checkEqual(suback.codes.join(), "1,128,0", "SUBACK codes");
    checkEqual(decodeAck(packets[2].body), 513, "PUBACK id");
    const malformed = failure(async () =>
      new PacketReader().push(bytesOf([0x30, 0xff, 0xff, 0xff, 0xff, 1])),
    );
    return malformed.then((message) => ({
      suback,
      ping: toHex(encodeEmpty(12)),
      malformed: message,
    }));
  },

  async "session: subscribe, QoS 1 and 0, refused filter, unsubscribe, close"() {
    const broker = scriptedBroker({ forbidden: ["forbidden/#"] });
    const b = board(broker);
    await until(() => b.mqtt.connected, "CONNACK");
    const granted = await b.mqtt.subscribe(["dev/in", "forbidden/#"], 1);
    checkEqual(granted.join(), "1,128", "granted");
    await b.mqtt.publish("dev/in", "hello", 1);
    await until(() => b.messages.length === 1, "echo");
    await b.mqtt.publish("dev/in", utf8Encode("zero"), 0);
    await until(() => b.messages.length === 2, "second echo");
    await b.mqtt.unsubscribe(["dev/in"]);
    await b.mqtt.close();
    checkEqual(
      broker.log.join("|"),
      "1 CONNECT dev-1 keep-alive 60|1 SUBSCRIBE 1 dev/in,forbidden/#|" +
        "1 PUBLISH dev/in qos 1 id 2 dup false|1 PUBACK 77|1 PUBLISH dev/in qos 0 id 0 dup false|" +
        "1 PUBACK 77|1 UNSUBSCRIBE 3 dev/in|1 DISCONNECT",
      "packets",
    );
    checkEqual(b.messages.join("|"), "dev/in: hello|dev/in: zero", "messages");
    return {
      log: broker.log,
      events: b.events,
      messages: b.messages,
      closed: broker.closedByBoard,
    };
  },

  async "session: a lost connection, a publish in flight resent with DUP, subscriptions back"() {
    const broker = scriptedBroker({});
    const b = board(broker);
    await until(() => b.mqtt.connected, "CONNACK");
    await b.mqtt.subscribe(["dev/cmd"], 1);
    broker.dropOnPublish = true;
    await b.mqtt.publish("dev/report", "report-1", 1);
    // Still subscribed: the broker's echo of the board's own message arrives.
    await b.mqtt.publish("dev/cmd", "echo", 1);
    await until(() => b.messages.length === 1, "echo");
    // A packet that cannot be made fails alone, and is not tried again on the next connection.
    let long = "t";
    while (long.length < 70000) long += long;
    const tooLong = await failure(() => b.mqtt.publish(long, "x", 1));
    checkEqual(tooLong, `MQTT field too long: ${long.length} bytes`, "a topic too long");
    broker.dropOnPublish = true;
    await b.mqtt.publish("dev/report", "report-2", 1);
    checkEqual(broker.connections, 3, "connections");
    await b.mqtt.close();
    // The second connection subscribes again before the PUBLISH goes again, same id, with DUP.
    checkEqual(
      broker.log.slice(2, 6).join("|"),
      "1 PUBLISH dev/report qos 1 id 2 dup false|2 CONNECT dev-1 keep-alive 60|" +
        "2 SUBSCRIBE 3 dev/cmd|2 PUBLISH dev/report qos 1 id 2 dup true",
      "packets around the loss",
    );
    checkEqual(b.events.length, 5, "connect, disconnect, connect, disconnect, connect");
    return { log: broker.log, events: b.events, messages: b.messages, logs: b.logs, tooLong };
  },

  async "session: keep-alive, a dead link found, reconnection"() {
    const broker = scriptedBroker({});
    const b = board(broker, { keepAliveMs: 1000, connectTimeoutMs: 2000 });
    await until(() => b.mqtt.connected, "CONNACK");
    await sleep(3500);
    const pingsWhileAlive = broker.log.filter((line) => line === "1 PINGREQ").length;
    checkEqual(pingsWhileAlive, 3, "PINGREQs in 3.5 s");
    broker.dead = true;
    await until(() => b.events.length === 2, "the dead link");
    await sleep(5000);
    broker.dead = false;
    await until(() => b.events.length === 3, "reconnection");
    await b.mqtt.close();
    checkEqual(b.events[1], "5002 disconnect: no PINGRESP within 1000 ms", "the dead link");
    check(
      b.logs.indexOf("warn: MQTT: cannot connect to broker.local: no CONNACK within 2000 ms") > 0,
      "attempts on the dead link given up",
    );
    return { events: b.events, logs: b.logs, connections: broker.connections };
  },

  async "session: no CONNACK, bounded; close while connecting; bounded PUBACK"() {
    const broker = scriptedBroker({ silent: true });
    const b = board(broker, { connectTimeoutMs: 5000, ackTimeoutMs: 3000 });
    const late = await failure(() => b.mqtt.publish("dev/report", "r", 1));
    checkEqual(clock.now(), 3000, "virtual time of the PUBACK wait");
    await until(() => broker.connections === 3, "three attempts");
    checkEqual(broker.closedByBoard, 2, "connections given up");
    const offline = await failure(() => b.mqtt.publish("dev/telemetry", "t", 0));
    const pending = failure(() => b.mqtt.subscribe(["dev/cmd"], 1));
    const at = clock.now();
    await b.mqtt.close();
    const closed = await pending;
    checkEqual(clock.now(), at, "virtual time spent closing");
    checkEqual(broker.closedByBoard, 3, "connection closed by close()");
    await sleep(60000);
    checkEqual(broker.connections, 3, "attempts after close()");
    checkEqual(late, "MQTT PUBLISH dev/report: no acknowledgement in 3000 ms", "PUBACK wait");
    checkEqual(offline, "MQTT is not connected", "QoS 0 offline");
    checkEqual(closed, "MQTT client closed", "close");
    return { late, offline, closed, logs: b.logs };
  },

  async "session: a refused connection is retried, never connected"() {
    const broker = scriptedBroker({ refuse: 5 });
    const b = board(broker);
    await until(() => broker.connections === 3, "three attempts");
    await b.mqtt.close();
    checkEqual(b.events.length, 0, "connect events");
    checkEqual(
      b.logs[0],
      "warn: MQTT: cannot connect to broker.local: broker refused the connection (CONNACK code 5)",
      "log",
    );
    return { connected: b.mqtt.connected, events: b.events, logs: b.logs };
  },

  async "session: hundreds of failed connects, none inside another, then connected"() {
    // Every way a link can fail to open, in turn: connect() throws, the link closes before
    // connect() returns, or it closes a moment later. Each retry must come from a timer: one
    // made from inside the failing connect() would nest deeper at every attempt.
    const broker = scriptedBroker({});
    const real = streamConnector((stream) => broker.open(stream), clock);
    const FAILURES = 300;
    let attempts = 0;
    let depth = 0;
    let nested = 0;
    const none = () => undefined;
    const dead = { publish: none, subscribe: none, unsubscribe: none, close: none };
    const connect: MqttConnector = (request, events) => {
      attempts++;
      if (depth > 0) nested++;
      depth++;
      try {
        if (attempts > FAILURES) return real(request, events);
        const way = attempts % 3;
        if (way === 0) throw new Error("no route to host");
        if (way === 1) events.closed("connection refused");
        else clock.setTimeout(() => events.closed("connection reset"), 0);
        return dead;
      } finally {
        depth--;
      }
    };
    const logs: string[] = [];
    let connects = 0;
    const mqtt = mqttSession(connect, {
      host: "broker.local",
      identity: () => ({ clientId: "dev-1" }),
      reconnect: { baseMs: 10, maxMs: 40 },
      clock,
      logger: { log: (level, message) => logs.push(`${level}: ${message}`) },
    });
    mqtt.onConnect(() => connects++);
    await until(() => mqtt.connected, "the connection after the failures");
    await mqtt.close();
    checkEqual(nested, 0, "connect() called from inside connect()");
    checkEqual(attempts, FAILURES + 1, "attempts");
    checkEqual(connects, 1, "connect events");
    return {
      attempts,
      nested,
      connects,
      cannot: logs.filter((l) => l.indexOf("cannot") >= 0).length,
    };
  },
} satisfies Cases;
