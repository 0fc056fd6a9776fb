// The boards' MQTT session (src/mqtt/session.ts) with the packet codec over a byte stream
// (src/mqtt/stream-link.ts), as Espruino runs it, here over Node sockets: against the embedded
// aedes broker and mosquitto, through a TCP proxy where the network has to fail, and against
// servers that never answer.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import mqtt from "mqtt";
import * as mqttPacket from "mqtt-packet";
import { startEmbeddedBroker } from "../../tools/broker/index";
import { nodeClock } from "../../hosts/node/clock";
import { isOtaError } from "../../src/core/errors";
import type { MqttClient } from "../../src/core/ports";
import { utf8Decode } from "../../src/core/util/bytes";
import { mqttSession, type MqttSessionOptions } from "../../src/mqtt/session";
import { streamConnector } from "../../src/mqtt/stream-link";
import { makePki } from "../support/certs";
import { mosquittoSkip, startMosquitto } from "../support/mosquitto";
import { nodeByteStream } from "../support/node-byte-stream";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";

interface Board {
  mqtt: MqttClient;
  logs: string[];
  /** "connect" and "disconnect: <reason>", in order. */
  events: string[];
  messages: { topic: string; text: string }[];
}

function board(port: number, options: Partial<MqttSessionOptions> = {}, clientId = "board"): Board {
  const logs: string[] = [];
  const events: string[] = [];
  const messages: { topic: string; text: string }[] = [];
  const client = mqttSession(streamConnector(nodeByteStream(port), nodeClock), {
    host: "127.0.0.1",
    identity: () => ({ clientId }),
    reconnect: { baseMs: 50, maxMs: 200 },
    clock: nodeClock,
    logger: { log: (level, message) => logs.push(`${level}: ${message}`) },
    ...options,
  });
  client.onConnect(() => events.push("connect"));
  client.onDisconnect((reason) => events.push(`disconnect: ${reason}`));
  client.onMessage((message) =>
    messages.push({ topic: message.topic, text: utf8Decode(message.payload) }),
  );
  return { mqtt: client, logs, events, messages };
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function failure(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (error) {
    if (isOtaError(error))
      return `${error.code}${error.transient ? " (transient)" : ""}: ${error.message}`;
    return `not an OtaError: ${String(error)}`;
  }
  return "no failure";
}

interface Broker {
  port: number;
  url: string;
  restart(): Promise<void>;
  close(): Promise<void>;
}

async function startAedes(): Promise<Broker> {
  let running = await startEmbeddedBroker();
  const port = running.port;
  return {
    port,
    url: running.url,
    async restart() {
      await running.close();
      running = await startEmbeddedBroker({ port });
    },
    close: () => running.close(),
  };
}

/** Reads, per connection, the MQTT packets a client sends through a proxy. */
function clientPackets(proxy: TcpProxy, swallow?: (packet: mqttPacket.Packet) => boolean) {
  const seen: { connection: number; packet: mqttPacket.Packet }[] = [];
  const parsers = new Map<number, mqttPacket.Parser>();
  let swallowing = false;
  proxy.onClientData = (data, connection) => {
    let parser = parsers.get(connection);
    if (!parser) {
      const created = mqttPacket.parser({ protocolVersion: 4 });
      created.on("packet", (packet) => {
        seen.push({ connection, packet });
        if (swallow && swallow(packet)) swallowing = true;
      });
      parsers.set(connection, created);
      parser = created;
    }
    swallowing = false;
    parser.parse(data);
    return !swallowing;
  };
  return seen;
}

const brokers = {
  aedes: startAedes,
  mosquitto: async (): Promise<Broker> => startMosquitto(),
};

for (const kind of ["aedes", "mosquitto"] as const) {
  describe(
    `MQTT session over a socket, with ${kind}`,
    { skip: kind === "mosquitto" ? mosquittoSkip : undefined },
    () => {
      let broker: Broker;
      let cloud: mqtt.MqttClient;
      before(async () => {
        broker = await brokers[kind]();
      });
      after(() => broker.close());

      async function connectCloud(): Promise<void> {
        cloud = await mqtt.connectAsync(broker.url, {
          clientId: `cloud-${kind}`,
          reconnectPeriod: 0,
        });
      }

      it("subscribes, publishes with QoS 1 and 0, receives in both QoS, unsubscribes", async () => {
        await connectCloud();
        const b = board(broker.port);
        try {
          await until(() => b.mqtt.connected, "CONNACK");
          assert.deepEqual(await b.mqtt.subscribe(["board/in/#"], 1), [1]);
          // Resolves on the broker's PUBACK.
          await b.mqtt.publish("board/in/echo", "hello", 1);
          await until(() => b.messages.length === 1, "the echo");
          // A message far larger than a socket read: gathered from many pieces.
          let big = "";
          while (big.length < 300_000) big += `payload-${big.length};`;
          await b.mqtt.publish("board/in/big", big, 0);
          await until(() => b.messages.length === 2, "the large message");
          assert.equal(b.messages[1].text, big);
          // The cloud's QoS 1 publish completes only when the board answers with PUBACK.
          await cloud.publishAsync("board/in/cloud", "from the cloud", { qos: 1 });
          await until(() => b.messages.length === 3, "the cloud's message");
          assert.deepEqual(b.messages[2], { topic: "board/in/cloud", text: "from the cloud" });
          await b.mqtt.unsubscribe(["board/in/#"]);
          await b.mqtt.publish("board/in/after", "not for the board", 1);
          await sleep(200);
          assert.equal(b.messages.length, 3);
          assert.deepEqual(b.events, ["connect"]);
          assert.equal(b.messages[0].topic, "board/in/echo");
        } finally {
          await b.mqtt.close();
          await cloud.endAsync();
        }
        assert.equal(b.mqtt.connected, false);
      });

      it("reconnects after the broker restarts and subscribes again", async () => {
        const b = board(broker.port);
        try {
          await until(() => b.mqtt.connected, "CONNACK");
          assert.deepEqual(await b.mqtt.subscribe(["board/cmd"], 1), [1]);
          await broker.restart();
          await until(() => b.events.length >= 3, "the reconnection");
          assert.equal(b.events[0], "connect");
          assert.match(b.events[1], /^disconnect: /);
          assert.equal(b.events[2], "connect");
          // Nothing but the session's own resubscription brings this message to the board.
          await connectCloud();
          await until(() => b.mqtt.connected, "CONNACK");
          const sent = setInterval(
            () => void cloud.publishAsync("board/cmd", "after restart", { qos: 1 }),
            100,
          );
          try {
            await until(() => b.messages.length > 0, "a message on the old subscription");
          } finally {
            clearInterval(sent);
          }
          assert.deepEqual(b.messages[0], { topic: "board/cmd", text: "after restart" });
        } finally {
          await b.mqtt.close();
          await cloud?.endAsync();
        }
      });

      it("resends a publish whose PUBACK was lost, with DUP and the same packet id", async () => {
        await connectCloud();
        await cloud.subscribeAsync("board/report", { qos: 1 });
        const reports: string[] = [];
        cloud.on("message", (_topic, payload) => reports.push(payload.toString()));
        const proxy = await startTcpProxy(broker.port);
        // The first PUBLISH leaves the board, and the network fails before the broker sees it.
        let cut = false;
        const packets = clientPackets(proxy, (packet) => {
          if (packet.cmd !== "publish" || cut) return false;
          cut = true;
          setImmediate(() => proxy.cut());
          return true;
        });
        const b = board(proxy.port);
        try {
          await until(() => b.mqtt.connected, "CONNACK");
          await b.mqtt.publish("board/report", "report-1", 1);
          await until(() => reports.length > 0, "the report at the cloud");
          const publishes = packets
            .map((seen) => seen.packet)
            .filter((packet): packet is mqttPacket.IPublishPacket => packet.cmd === "publish");
          assert.deepEqual(
            publishes.map((packet) => packet.dup),
            [false, true],
          );
          assert.equal(publishes[0].messageId, publishes[1].messageId);
          assert.deepEqual(reports, ["report-1"]);
          assert.equal(b.events[0], "connect");
          assert.match(b.events[1], /^disconnect: /);
          assert.equal(b.events[2], "connect");
        } finally {
          await b.mqtt.close();
          await proxy.close();
          await cloud.endAsync();
        }
      });

      it("pings to keep alive, finds a dead link, and reconnects once it works again", async () => {
        const proxy = await startTcpProxy(broker.port);
        const packets = clientPackets(proxy);
        const pings = () => packets.filter((seen) => seen.packet.cmd === "pingreq").length;
        const b = board(proxy.port, { keepAliveMs: 1000, connectTimeoutMs: 1000 });
        try {
          await until(() => b.mqtt.connected, "CONNACK");
          const connect = packets[0].packet as mqttPacket.IConnectPacket;
          assert.equal(connect.keepalive, 1);
          // Idle: PINGREQ each second, answered, so the link stays up.
          await until(() => pings() >= 3, "three pings");
          assert.deepEqual(b.events, ["connect"]);
          // The network goes dead without closing anything: only keep-alive can notice.
          proxy.forwarding = false;
          const lostAt = Date.now();
          await until(() => b.events.length === 2, "the dead link");
          assert.equal(b.events[1], "disconnect: no PINGRESP within 1000 ms");
          assert.ok(Date.now() - lostAt < 2500, `found dead after ${Date.now() - lostAt} ms`);
          assert.equal(b.mqtt.connected, false);
          // Attempts through the dead network get no CONNACK and are given up.
          const accepted = proxy.accepted;
          await until(() => proxy.accepted >= accepted + 2, "attempts to reconnect");
          assert.ok(b.logs.some((line) => line.endsWith("no CONNACK within 1000 ms")));
          proxy.forwarding = true;
          await until(() => b.events.length === 3, "the reconnection");
          assert.equal(b.events[2], "connect");
        } finally {
          await b.mqtt.close();
          await proxy.close();
        }
      });
    },
  );
}

describe("MQTT session over TLS with a client certificate", { skip: mosquittoSkip }, () => {
  it("connects, subscribes and round-trips a QoS 1 message through mosquitto", async () => {
    const pki = makePki();
    const broker = await startMosquitto({ pki });
    const secure = { ca: pki.ca, ...pki.client("board-tls"), servername: "localhost" };
    const client = mqttSession(
      streamConnector(nodeByteStream(broker.port, "127.0.0.1", secure), nodeClock),
      {
        host: "127.0.0.1",
        identity: () => ({ clientId: "board-tls" }),
        clock: nodeClock,
        logger: { log: () => undefined },
      },
    );
    const messages: string[] = [];
    client.onMessage((message) => messages.push(utf8Decode(message.payload)));
    try {
      await until(() => client.connected, "CONNACK over TLS");
      assert.deepEqual(await client.subscribe(["board/tls"], 1), [1]);
      await client.publish("board/tls", "sealed", 1);
      await until(() => messages.length === 1, "the message");
      assert.deepEqual(messages, ["sealed"]);
    } finally {
      await client.close();
      await broker.close();
    }
  });
});

describe("MQTT session: what the broker refuses", () => {
  it("reports a refused filter as 128 and the others as granted", async () => {
    const broker = await startEmbeddedBroker({
      authorizeSubscribe: (_client, subscription, done) =>
        done(null, subscription.topic === "forbidden/#" ? null : subscription),
    });
    const b = board(broker.port);
    try {
      await until(() => b.mqtt.connected, "CONNACK");
      assert.deepEqual(await b.mqtt.subscribe(["ok/1", "forbidden/#"], 1), [1, 128]);
    } finally {
      await b.mqtt.close();
      await broker.close();
    }
  });

  it("retries a refused connection with backoff and never reports it as connected", async () => {
    let attempts = 0;
    const broker = await startEmbeddedBroker({
      authenticate: (_client, _username, _password, done) => {
        attempts++;
        const error = Object.assign(new Error("not authorized"), { returnCode: 5 });
        done(error as never, false);
      },
    });
    const b = board(broker.port);
    try {
      await until(() => attempts >= 2, "a second attempt");
      assert.equal(b.mqtt.connected, false);
      assert.deepEqual(b.events, []);
      assert.ok(
        b.logs.includes(
          "warn: MQTT: cannot connect to 127.0.0.1: broker refused the connection (CONNACK code 5)",
        ),
        b.logs.join("\n"),
      );
    } finally {
      await b.mqtt.close();
      await broker.close();
    }
  });
});

describe("MQTT session: bounded waits and close", () => {
  /** A server that accepts connections and never says a word. */
  async function silentServer() {
    const sockets: net.Socket[] = [];
    const closedAt: number[] = [];
    const server = net.createServer((socket) => {
      sockets.push(socket);
      // Reads, so that the board's closing is seen.
      socket.resume();
      socket.on("error", () => undefined);
      socket.on("close", () => closedAt.push(Date.now()));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    return {
      port: (server.address() as net.AddressInfo).port,
      sockets,
      closedAt,
      async close() {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  it("gives up a connection without CONNACK after connectTimeoutMs and tries again", async () => {
    const server = await silentServer();
    const b = board(server.port, { connectTimeoutMs: 300 });
    try {
      await until(() => server.sockets.length >= 3, "three attempts");
      // Each attempt's socket was closed by the board before the next one.
      assert.ok(server.closedAt.length >= 2);
      assert.ok(
        b.logs.includes("warn: MQTT: cannot connect to 127.0.0.1: no CONNACK within 300 ms"),
      );
      assert.deepEqual(b.events, []);
    } finally {
      await b.mqtt.close();
    }
    const attempts = server.sockets.length;
    await sleep(500);
    assert.equal(server.sockets.length, attempts, "no attempt after close()");
    await server.close();
  });

  it("closes at once while connecting: the socket goes, waiting requests fail", async () => {
    const server = await silentServer();
    const b = board(server.port);
    const report = failure(() => b.mqtt.publish("board/report", "r", 1));
    const subscription = failure(() => b.mqtt.subscribe(["board/cmd"], 1));
    try {
      await until(() => server.sockets.length === 1, "the TCP connection");
      const closing = Date.now();
      await b.mqtt.close();
      assert.equal(await report, "network: MQTT client closed");
      assert.equal(await subscription, "network: MQTT client closed");
      await until(() => server.closedAt.length === 1, "the socket to close", 2000);
      assert.ok(server.closedAt[0] - closing < 1000);
      assert.equal(
        await failure(() => b.mqtt.publish("board/report", "late", 1)),
        "network: MQTT client closed",
      );
      await sleep(300);
      assert.equal(server.sockets.length, 1, "no attempt after close()");
    } finally {
      await server.close();
    }
  });

  it("fails a QoS 1 publish that gets no PUBACK within ackTimeoutMs, and QoS 0 when offline", async () => {
    const server = await silentServer();
    const b = board(server.port, { ackTimeoutMs: 300 });
    try {
      assert.equal(
        await failure(() => b.mqtt.publish("board/report", "r", 1)),
        "network (transient): MQTT PUBLISH board/report: no acknowledgement in 300 ms",
      );
      assert.equal(
        await failure(() => b.mqtt.subscribe(["a", "b"], 1)),
        "network (transient): MQTT SUBSCRIBE a b: no acknowledgement in 300 ms",
      );
      assert.equal(
        await failure(() => b.mqtt.publish("board/telemetry", "t", 0)),
        "network (transient): MQTT is not connected",
      );
    } finally {
      await b.mqtt.close();
      await server.close();
    }
  });
});
