// MQTT 5 clients on the embedded broker. aedes speaks MQTT 3.1.1 only and refuses a version 5
// CONNECT; servers that accept both (ThingsBoard does) are emulated by translating each packet
// between the client's MQTT 5 and aedes' 3.1.1, framed both ways by mqtt-packet (the codec aedes
// and MQTT.js use). What MQTT 5 adds and 3.1.1 cannot carry (properties, reason strings) is
// dropped on the way in; reason codes are derived on the way out.
import { Duplex } from "node:stream";
import type * as net from "node:net";
import * as mqttPacket from "mqtt-packet";
import type { IConnackPacket, Packet } from "mqtt-packet";

/** CONNACK return codes of 3.1.1 as MQTT 5 reason codes. */
const CONNACK_REASONS: Record<number, number> = {
  0: 0x00,
  1: 0x84, // unacceptable protocol version -> unsupported protocol version
  2: 0x85, // identifier rejected -> client identifier not valid
  3: 0x88, // server unavailable
  4: 0x86, // bad user name or password
  5: 0x87, // not authorized
};

/**
 * Hands `socket` to `handle`: as it is for MQTT 3.1/3.1.1, or through a translating stream when its
 * CONNECT says protocol version 5.
 */
export function acceptAnyVersion(socket: net.Socket, handle: (stream: Duplex) => void): void {
  socket.once("data", (first: Buffer) => {
    socket.pause();
    socket.unshift(first);
    if (connectVersion(first) === 5) handle(translated(socket));
    else handle(socket);
    socket.resume();
  });
}

/** The protocol level of a CONNECT at the start of `bytes` (undefined when it is not one). */
function connectVersion(bytes: Buffer): number | undefined {
  if (bytes.length < 2 || bytes[0] >> 4 !== 1) return undefined;
  let offset = 1;
  while (offset < 5 && offset < bytes.length && bytes[offset] & 0x80) offset++;
  offset++; // past the remaining length
  const nameLength = bytes.readUInt16BE(offset);
  return bytes[offset + 2 + nameLength];
}

function translated(socket: net.Socket): Duplex {
  const fromClient = mqttPacket.parser({ protocolVersion: 5 });
  const fromBroker = mqttPacket.parser({ protocolVersion: 4 });
  /** UNSUBACK in MQTT 5 has a reason code per filter: how many each UNSUBSCRIBE named. */
  const unsubscribed = new Map<number, number>();
  const inner = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      fromBroker.parse(chunk);
      done();
    },
    final(done) {
      socket.end();
      done();
    },
  });
  const toBroker = (packet: Packet) =>
    inner.push(mqttPacket.generate(packet, { protocolVersion: 4 }));
  const toClient = (packet: Packet) =>
    socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }));

  fromClient.on("packet", (packet: Packet) => {
    const bare = { ...packet } as Packet & {
      properties?: Record<string, unknown>;
      reasonCode?: number;
    };
    delete bare.properties;
    delete bare.reasonCode;
    switch (packet.cmd) {
      case "connect": {
        const will = packet.will && { ...packet.will, properties: undefined };
        return toBroker({ ...bare, protocolVersion: 4, will } as Packet);
      }
      case "publish":
        // No Topic Alias Maximum is granted in the CONNACK: a client may not use aliases.
        if (packet.properties?.topicAlias !== undefined) return socket.destroy();
        return toBroker(bare);
      case "subscribe":
        return toBroker({
          ...bare,
          subscriptions: packet.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })),
        } as Packet);
      case "unsubscribe":
        unsubscribed.set(packet.messageId ?? 0, packet.unsubscriptions.length);
        return toBroker(bare);
      case "auth":
        return socket.destroy(); // no enhanced authentication here
      default:
        return toBroker(bare);
    }
  });
  fromBroker.on("packet", (packet: Packet) => {
    switch (packet.cmd) {
      case "connack": {
        const code = (packet as IConnackPacket).returnCode ?? 0;
        return toClient({
          cmd: "connack",
          sessionPresent: packet.sessionPresent,
          reasonCode: CONNACK_REASONS[code] ?? 0x80,
        });
      }
      case "unsuback": {
        const count = unsubscribed.get(packet.messageId ?? 0) ?? 1;
        unsubscribed.delete(packet.messageId ?? 0);
        return toClient({ ...packet, granted: new Array<number>(count).fill(0) } as Packet);
      }
      default:
        return toClient(packet);
    }
  });
  // A malformed packet ends the connection, as a broker does.
  fromClient.on("error", () => socket.destroy());
  fromBroker.on("error", () => socket.destroy());
  socket.on("data", (chunk: Buffer) => fromClient.parse(chunk));
  socket.on("close", () => inner.destroy());
  socket.on("error", () => inner.destroy());
  inner.on("close", () => socket.destroy());
  return inner;
}
