// An MqttLink made of the packet codec over a byte stream, for platforms with sockets but no MQTT
// client (Espruino's net and tls). Besides framing, it does what a platform's client would: it
// answers a QoS 1 message with PUBACK, and keeps the connection alive with PINGREQ, closing it as
// dead when a PINGRESP does not come back within the keep-alive period.
import type { Clock, TimerHandle } from "../core/ports";
import {
  CONNACK,
  DISCONNECT,
  PINGREQ,
  PINGRESP,
  PUBACK,
  PUBLISH,
  SUBACK,
  UNSUBACK,
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
} from "./codec";
import type { MqttConnector, MqttLink, MqttLinkEvents, MqttLinkRequest } from "./link";

/** What a byte stream tells its user. No event follows stream.close() or a `closed` event. */
export interface ByteStreamEvents {
  /** The connection is up (for TLS, the handshake is done). */
  opened(): void;
  data(bytes: Uint8Array): void;
  /** The connection failed or ended. */
  closed(reason: string): void;
}

/** The byte-stream transport port: one TCP (or TLS) connection to the broker. */
export interface ByteStream {
  write(bytes: Uint8Array): void;
  /** Releases the connection at once; harmless when it is closed already. */
  close(): void;
}

/** Opens a connection to the broker. Events may start before it returns. */
export type ByteStreamOpener = (events: ByteStreamEvents) => ByteStream;

/** A connector for the session (session.ts) that opens links over `openStream`. */
export function streamConnector(openStream: ByteStreamOpener, clock: Clock): MqttConnector {
  return (request, events) => openStreamLink(openStream, clock, request, events);
}

function openStreamLink(
  openStream: ByteStreamOpener,
  clock: Clock,
  request: MqttLinkRequest,
  events: MqttLinkEvents,
): MqttLink {
  const reader = new PacketReader();
  let stream: ByteStream | undefined;
  /** The stream said it is open before openStream returned it. */
  let openedEarly = false;
  let accepted = false;
  let over = false;
  let ping: TimerHandle | undefined;
  let answered = true;

  const send = (bytes: Uint8Array): void => {
    if (stream && !over) stream.write(bytes);
  };

  function release(): void {
    over = true;
    if (ping !== undefined) clock.clearTimeout(ping);
    ping = undefined;
    const old = stream;
    stream = undefined;
    if (old) old.close();
  }

  function end(reason: string): void {
    if (over) return;
    release();
    events.closed(reason);
  }

  function keepAlive(): void {
    ping = clock.setTimeout(() => {
      ping = undefined;
      if (!answered) return end(`no PINGRESP within ${request.keepAliveMs} ms`);
      answered = false;
      send(encodeEmpty(PINGREQ));
      keepAlive();
    }, request.keepAliveMs);
  }

  function sendConnect(): void {
    const identity = request.identity;
    send(
      encodeConnect({
        clientId: identity.clientId,
        username: identity.username,
        password: identity.password,
        keepAlive: Math.ceil(request.keepAliveMs / 1000),
        clean: true,
      }),
    );
  }

  function onPacket(packet: Packet): void {
    if (!accepted) {
      if (packet.type !== CONNACK) return end(`packet type ${packet.type} before CONNACK`);
      const connack = decodeConnack(packet.body);
      if (connack.code !== 0)
        return end(`broker refused the connection (CONNACK code ${connack.code})`);
      accepted = true;
      if (request.keepAliveMs > 0) keepAlive();
      events.connected(connack.sessionPresent);
    } else if (packet.type === PUBLISH) {
      const message = decodePublish(packet.flags, packet.body);
      if (message.qos === 1) send(encodePuback(message.id));
      events.message({ topic: message.topic, payload: message.payload });
    } else if (packet.type === PUBACK || packet.type === UNSUBACK) {
      events.acknowledged(decodeAck(packet.body), []);
    } else if (packet.type === SUBACK) {
      const suback = decodeSuback(packet.body);
      events.acknowledged(suback.id, suback.codes);
    } else if (packet.type === PINGRESP) answered = true;
  }

  function onData(bytes: Uint8Array): void {
    try {
      const packets = reader.push(bytes);
      for (let i = 0; i < packets.length && !over; i++) onPacket(packets[i]);
    } catch (error) {
      end(error instanceof Error ? error.message : String(error));
    }
  }

  const opened = openStream({
    opened: () => {
      if (over) return;
      if (stream) sendConnect();
      else openedEarly = true;
    },
    data: (bytes) => {
      if (!over) onData(bytes);
    },
    closed: (reason) => end(reason),
  });
  if (over) opened.close();
  else {
    stream = opened;
    if (openedEarly) sendConnect();
  }

  return {
    publish(topic, payload, qos, id, duplicate) {
      send(encodePublish({ topic, payload, qos, id, duplicate, retain: false }));
    },
    subscribe(id, items) {
      send(encodeSubscribe(id, items));
    },
    unsubscribe(id, filters) {
      send(encodeUnsubscribe(id, filters));
    },
    close() {
      if (over) return;
      if (accepted) send(encodeEmpty(DISCONNECT));
      release();
    },
  };
}
